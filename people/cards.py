"""A person as every page draws them: a name, and an avatar of initials on a colour.

No uploads: the avatar is made from the name and the user id alone, the same
way here and in static/js/people.js (`avatar`), so a page can draw one from a
frame's `author_name` and `author_colour`.
"""

import unicodedata
from dataclasses import dataclass

COLOURS = 12


@dataclass(frozen=True)
class Card:
    """What a page shows of a person."""

    username: str
    name: str
    initials: str
    colour: int


def colour_of(user_id: int) -> int:
    """0-11, the same for a user for ever: their id decides it, not their name."""
    return user_id % COLOURS


def _first_letter(word: str) -> str:
    """The word's first letter or digit, with the combining marks that follow it."""
    for start, char in enumerate(word):
        if unicodedata.category(char)[0] in "LN":
            end = start + 1
            while end < len(word) and unicodedata.category(word[end])[0] == "M":
                end += 1
            return word[start:end]
    return ""


def _upper(letter: str) -> str:
    # Upper case only where it stays one letter ("ß" would become "SS").
    upper = letter.upper()
    return upper if len(upper) == len(letter) else letter


def initials(name: str) -> str:
    """One or two letters: of the first and last words, or the one word's first letter."""
    letters = [letter for letter in map(_first_letter, name.split()) if letter]
    if not letters:
        return "?"
    chosen = letters[:1] if len(letters) == 1 else [letters[0], letters[-1]]
    return "".join(_upper(unicodedata.normalize("NFC", letter)) for letter in chosen)


def card_of(*, user_id: int, username: str, display_name: str = "") -> Card:
    name = display_name or username
    return Card(username=username, name=name, initials=initials(name), colour=colour_of(user_id))
