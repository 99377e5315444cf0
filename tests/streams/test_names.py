"""Names people choose: one script, nothing invisible, and skeletons that catch look-alikes."""

import pytest
from django.core.exceptions import ValidationError

from streams.names import name_check, name_normalise, name_scripts, name_skeleton


@pytest.mark.parametrize(
    "name",
    [
        "alice",
        "Ночные совы",
        "中文聊天室",
        "東京 の カフェ",
        "서울 茶房",
        "עברית",
        "العربية",
        "हिन्दी",
    ],
)
def test_a_name_in_one_script_passes(name):
    name_check(name_normalise(name), noun="A name")


@pytest.mark.parametrize(
    "name", ["\u0430lice", "Paypal\u03bf", "日本語 Русский", "ab\u0441d", "Ελλάδα Россия"]
)
def test_a_name_that_mixes_scripts_is_refused(name):
    with pytest.raises(ValidationError) as refused:
        name_check(name_normalise(name), noun="A name")

    assert refused.value.code == "mixed_scripts"


@pytest.mark.parametrize(
    "name",
    [
        "alice\u202e",  # right-to-left override
        "\u200falice",  # right-to-left mark
        "ali\u200dce",  # zero-width joiner
        "ali\u00adce",  # soft hyphen
        "alice\ufe0f",  # a variation selector
        "ali\u2800ce",  # a blank braille pattern
        "ali\ue000ce",  # private use
        "ali\nce",
    ],
)
def test_a_name_with_an_invisible_or_direction_changing_character_is_refused(name):
    with pytest.raises(ValidationError) as refused:
        name_check(name_normalise(name), noun="A name")

    assert refused.value.code == "invisible"


def test_names_are_normalised_to_nfkc_with_single_spaces():
    assert name_normalise("  \uff21lice\u3000\u3000Smith\u00a0 ") == "Alice Smith"
    assert name_normalise("\ufb01sh") == "fish"


@pytest.mark.parametrize(
    "look_alike",
    ["alice", "ALICE", "\u0430lice", "AIice", "al1ce", "\u0430l\u0456\u0441\u0435", "Alic\u00e9"],
)
def test_look_alikes_of_a_name_share_its_skeleton(look_alike):
    assert name_skeleton(look_alike) == name_skeleton("alice")


def test_different_names_have_different_skeletons():
    assert name_skeleton("alice") != name_skeleton("alina")
    assert name_skeleton("bob") != name_skeleton("rob")


def test_the_scripts_of_a_name_leave_out_digits_marks_and_punctuation():
    assert name_scripts("room-42_.") == {"LATIN"}
    assert name_scripts("42 - 7") == frozenset()
    assert name_scripts("Python 入門 のへや") == {"LATIN", "Han", "Kana"}
