"""static/css/site.css in both themes: every colour a variable, every text colour readable.

axe checks the colours of what a page happens to show; this checks every pair the
stylesheet can put together, in the theme a page is not showing too.
"""

import re
from pathlib import Path

import pytest

CSS = (Path(__file__).resolve().parents[2] / "static" / "css" / "site.css").read_text()
DARK = "@media (prefers-color-scheme: dark)"
VARIABLE = re.compile(r"--([a-z0-9-]+):\s*(#[0-9a-fA-F]{3,8}|rgba?\([^)]*\))")
RULE = re.compile(r"([^{}]+)\{([^{}]*)\}")
TEXT = re.compile(r"(?<![-\w])color:\s*var\(--([a-z0-9-]+)\)")
BACKGROUND = re.compile(r"background(?:-color)?:\s*var\(--([a-z0-9-]+)\)")
# What text with a colour of its own and no background of its own may sit on.
SURFACES = ["bg", "card", "hover", "highlight-bg", "code-bg"]


def light_block() -> str:
    return CSS[: CSS.index(DARK)]


def dark_block() -> str:
    start = CSS.index(DARK)
    return CSS[start : CSS.index("}\n}", start)]


def themes() -> dict[str, dict[str, str]]:
    light = dict(VARIABLE.findall(light_block()))
    return {"light": light, "dark": {**light, **dict(VARIABLE.findall(dark_block()))}}


def luminance(colour: str) -> float:
    digits = colour.lstrip("#")
    if len(digits) == 3:
        digits = "".join(digit * 2 for digit in digits)

    def channel(pair: str) -> float:
        value = int(pair, 16) / 255
        return value / 12.92 if value <= 0.03928 else ((value + 0.055) / 1.055) ** 2.4

    red, green, blue = (channel(digits[i : i + 2]) for i in (0, 2, 4))
    return 0.2126 * red + 0.7152 * green + 0.0722 * blue


def contrast(one: str, other: str) -> float:
    """WCAG 2's contrast ratio of two opaque colours."""
    lighter, darker = sorted([luminance(one), luminance(other)], reverse=True)
    return (lighter + 0.05) / (darker + 0.05)


def text_pairs() -> set[tuple[str, str]]:
    """(text, background) variable names for every pair a rule of the stylesheet makes."""
    pairs = set()
    for _selector, body in RULE.findall(CSS):
        text, background = TEXT.search(body), BACKGROUND.search(body)
        if text and background:
            pairs.add((text[1], background[1]))
        elif background:
            pairs.add(("fg", background[1]))
        elif text:
            pairs.update((text[1], surface) for surface in SURFACES)
    return pairs


def test_the_stylesheet_makes_text_pairs_to_check():
    assert ("on-strong", "danger") in text_pairs()
    assert ("muted", "card") in text_pairs()
    assert ("avatar-fg", "avatar-11") in text_pairs()


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_every_text_colour_pair_reads_at_4_5_to_1(theme):
    colours = themes()[theme]

    failing = [
        f"--{text} on --{background}: {contrast(colours[text], colours[background]):.2f}:1"
        for text, background in sorted(text_pairs())
        if contrast(colours[text], colours[background]) < 4.5
    ]

    assert failing == []


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_the_focus_ring_stands_out_at_3_to_1_on_the_page_and_on_cards(theme):
    colours = themes()[theme]

    assert contrast(colours["focus"], colours["bg"]) >= 3
    assert contrast(colours["focus"], colours["card"]) >= 3


def test_every_colour_is_a_variable_set_in_both_themes():
    rules = CSS[CSS.index("}\n}", CSS.index(DARK)) :]
    light, dark = dict(VARIABLE.findall(light_block())), dict(VARIABLE.findall(dark_block()))
    used = set(re.findall(r"var\(--([a-z0-9-]+)\)", CSS))

    assert re.findall(r"#[0-9a-fA-F]{3,8}\b|rgba?\(", rules) == []
    assert set(dark) == set(light)
    assert used <= set(light)
