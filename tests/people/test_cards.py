"""A person's card: initials of one or two letters in any script, a colour that never changes,
and avatar colours readable in both themes."""

import re

import pytest

from people.cards import COLOURS, card_of, colour_of, initials
from tests.support.harness import REPO


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("Alice Martin", "AM"),
        ("alice", "A"),
        ("  élodie   de la Tour ", "ÉT"),
        ("e\u0301mile zola", "ÉZ"),  # a combining accent stays with its letter
        ("山田 太郎", "山太"),
        ("Дмитрий Иванов", "ДИ"),
        ("ßandra x", "ßX"),  # upper case only where it stays one letter
        ("(Bob) 2", "B2"),
        ("🙂 🙃", "?"),
        ("", "?"),
    ],
)
def test_initials_are_the_first_letters_of_the_first_and_last_words(name, expected):
    assert initials(name) == expected


def test_a_colour_is_one_of_twelve_and_depends_on_the_user_id_alone():
    assert {colour_of(user_id) for user_id in range(1, 100)} == set(range(COLOURS))
    assert (
        card_of(user_id=7, username="ann").colour
        == card_of(user_id=7, username="ann", display_name="Ann Smith").colour
    )


def test_a_card_without_a_display_name_shows_the_username():
    card = card_of(user_id=3, username="ann")
    assert (card.name, card.initials) == ("ann", "A")


def _luminance(hex_colour: str) -> float:
    channels = [int(hex_colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def _contrast(one: str, other: str) -> float:
    high, low = sorted([_luminance(one), _luminance(other)], reverse=True)
    return (high + 0.05) / (low + 0.05)


def _expand(colour: str) -> str:
    return colour if len(colour) == 7 else "#" + "".join(c * 2 for c in colour[1:])


def test_every_avatar_colour_has_its_initials_at_4_5_to_1_in_both_themes():
    css = (REPO / "static/css/site.css").read_text()
    light = css.split("@media (prefers-color-scheme: dark)")[0]
    dark = css.split("@media (prefers-color-scheme: dark)")[1].split("}\n}")[0]
    for theme in (light, dark):
        found = dict(re.findall(r"--avatar-(\w+): (#[0-9a-fA-F]{3,6});", theme))
        assert set(found) == {"fg", *map(str, range(COLOURS))}
        for colour in range(COLOURS):
            ratio = _contrast(_expand(found["fg"]), _expand(found[str(colour)]))
            assert ratio >= 4.5, (colour, ratio)
    for colour in range(COLOURS):
        rule = (
            f".avatar-c{colour} {{ color: var(--avatar-fg); background: var(--avatar-{colour}); }}"
        )
        assert rule in css
