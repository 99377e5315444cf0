"""Names people choose (usernames, room names): one spelling, one script, nothing hidden.

A name is shown to others as the only way to tell who or what it is, so it must
not be able to pass for another one. Every name is NFKC-normalised first (full-
width, ligature and "mathematical" letters become the plain ones), and then:

- nothing invisible: no control, format (bidi overrides and isolates, zero-width
  joiners and spaces), private-use or unassigned character, and none of the
  blank letters and fillers that render as nothing;
- one script: the letters of a name are of a single script, as in Unicode's
  "highly restrictive" profile (UTS #39, 5.2), where Latin may also go with Han
  and Japanese kana, with Han and Hangul, or with Han and Bopomofo. Digits,
  punctuation, spaces and combining marks belong to every script;
- for usernames, a confusable skeleton (`name_skeleton`) compared with the
  existing names', so `аlice` (Cyrillic а) or `AIice` cannot sit beside `alice`.

Python's `unicodedata` has no Script property; a letter's script is read from
the first word of its Unicode name (`CYRILLIC SMALL LETTER A`), which the
standard names follow for every script's letters. The skeleton maps the
look-alikes that matter for names written in Latin letters (Cyrillic, Greek,
digits and a few Latin pairs) from a table here, not the whole of Unicode's
confusables.txt.
"""

import unicodedata

from django.core.exceptions import ValidationError

INVISIBLE_CATEGORIES = frozenset({"Cc", "Cf", "Co", "Cs", "Cn", "Zl", "Zp"})
# Letters and marks that draw nothing (Unicode's Default_Ignorable_Code_Point
# outside category Cf), and blank symbols.
INVISIBLE = frozenset(
    "\u034f\u115f\u1160\u17b4\u17b5\u2800\u3164\uffa0"
    "\u180b\u180c\u180d\u180e\u180f"
    + "".join(map(chr, range(0xFE00, 0xFE10)))
    + "".join(map(chr, range(0xE0100, 0xE01F0)))
)
# What a letter's Unicode name begins with, for the scripts whose names do not
# begin with the script's own name.
SCRIPT_OF_PREFIX = {
    "CJK": "Han",
    "IDEOGRAPHIC": "Han",
    "KANGXI": "Han",
    "HIRAGANA": "Kana",
    "KATAKANA": "Kana",
    "KATAKANA-HIRAGANA": "Kana",
    "BOPOMOFO": "Bopomofo",
    "HANGUL": "Hangul",
}
# Scripts that may share a name (UTS #39's "highly restrictive" sets).
SCRIPT_SETS = (
    frozenset({"LATIN", "Han", "Kana"}),
    frozenset({"LATIN", "Han", "Hangul"}),
    frozenset({"LATIN", "Han", "Bopomofo"}),
)
# Look-alikes of Latin letters, mapped to the letter a reader takes them for
# (after case folding). From Unicode's confusables.txt, for Cyrillic, Greek,
# digits and Latin. Every i-like letter becomes l, as the case-insensitive
# comparison makes i the same as I, which passes for l.
CONFUSABLES = str.maketrans(
    {
        # Cyrillic
        "а": "a", "в": "b", "ԁ": "d", "е": "e", "һ": "h", "і": "l",
        "ј": "j", "к": "k", "ӏ": "l", "м": "m", "н": "h", "о": "o", "р": "p", "ԛ": "q",
        "г": "r", "ѕ": "s", "т": "t", "ц": "u", "ѵ": "v", "ԝ": "w", "х": "x", "у": "y",
        "ү": "y", "с": "c", "ь": "b", "з": "3", "ч": "4", "п": "n",
        # Greek
        "α": "a", "β": "b", "ε": "e", "η": "n", "ι": "l", "κ": "k", "ν": "v", "ο": "o",
        "ρ": "p", "τ": "t", "υ": "u", "χ": "x", "γ": "y", "ω": "w", "μ": "u", "ϲ": "c",
        "ϳ": "j", "ς": "c", "σ": "o",
        # Digits and Latin letters that pass for others
        "0": "o", "1": "l", "i": "l", "ı": "l", "5": "s",
    }
)  # fmt: skip
# Pairs of letters read as one.
CONFUSABLE_PAIRS = (("rn", "m"), ("vv", "w"))


def name_normalise(name: str) -> str:
    """`name` in NFKC, trimmed, with each run of spaces made one plain space."""
    return " ".join(part for part in unicodedata.normalize("NFKC", name).split(" ") if part)


def _script(char: str) -> str | None:
    """The script of a letter; None for what every script shares (digits, marks, punctuation)."""
    if not unicodedata.category(char).startswith(("L", "M")):
        return None
    first = unicodedata.name(char, "").split(" ", 1)[0]
    if first in ("COMBINING", "MODIFIER", ""):
        return None
    return SCRIPT_OF_PREFIX.get(first, first)


def name_scripts(name: str) -> frozenset[str]:
    """The scripts of the letters of `name`."""
    return frozenset(script for char in name if (script := _script(char)) is not None)


def name_check(name: str, *, noun: str) -> None:
    """A ValidationError when `name` (normalised) hides a character or mixes scripts."""
    if any(
        char in INVISIBLE
        or unicodedata.category(char) in INVISIBLE_CATEGORIES
        or (char.isspace() and char != " ")
        for char in name
    ):
        raise ValidationError(
            f"{noun} cannot contain invisible or direction-changing characters.",
            code="invisible",
        )
    scripts = name_scripts(name)
    if len(scripts) > 1 and not any(scripts <= allowed for allowed in SCRIPT_SETS):
        raise ValidationError(
            f"{noun} mixes letters of different scripts; use one.", code="mixed_scripts"
        )


def name_skeleton(name: str) -> str:
    """What `name` looks like: equal skeletons are names a reader cannot tell apart.

    Case-insensitive; accents and other combining marks are dropped, and
    look-alike letters of other scripts become the Latin ones they pass for.
    """
    decomposed = unicodedata.normalize("NFD", unicodedata.normalize("NFKC", name))
    # Capital I passes for a small l before case folding hides the difference.
    folded = decomposed.replace("I", "l").casefold()
    bare = "".join(char for char in folded if not unicodedata.combining(char))
    skeleton = bare.translate(CONFUSABLES)
    for pair, letter in CONFUSABLE_PAIRS:
        skeleton = skeleton.replace(pair, letter)
    return skeleton
