"""Every write of people: a profile changed by its owner (or the admin)."""

import re
import unicodedata

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError

from .models import MAX_DISPLAY_NAME, Profile

# Control, format (bidi, zero-width), private-use, surrogate, unassigned, line and
# paragraph separators: nothing a name shown to others may hide.
HIDDEN_CATEGORIES = frozenset({"Cc", "Cf", "Co", "Cs", "Cn", "Zl", "Zp"})


def display_name_clean(value: str) -> str:
    """`value` as it is stored: NFKC, runs of spaces made one, trimmed; "" for none.

    Raises ValidationError for a name that is too long, hides characters, or has
    no letter or digit. The site's form judges more (one script, not passing for
    someone's username); this is what every write keeps.
    """
    name = re.sub(r"\s+", " ", unicodedata.normalize("NFKC", value)).strip()
    if not name:
        return ""
    if len(name) > MAX_DISPLAY_NAME:
        raise ValidationError(
            f"A display name has at most {MAX_DISPLAY_NAME} characters.", code="too_long"
        )
    if any(unicodedata.category(char) in HIDDEN_CATEGORIES for char in name):
        raise ValidationError("A display name cannot hold invisible characters.", code="hidden")
    if not any(unicodedata.category(char)[0] in "LN" for char in name):
        raise ValidationError("A display name needs a letter or a digit.", code="no_letter")
    return name


def profile_update(*, user: AbstractBaseUser, display_name: str) -> Profile:
    """Set the user's display name ("" shows their username), making the profile if needed."""
    profile, _created = Profile.objects.update_or_create(
        user=user, defaults={"display_name": display_name_clean(display_name)}
    )
    # The user object the caller holds shows the new name too.
    user.profile = profile  # type: ignore[attr-defined]
    return profile
