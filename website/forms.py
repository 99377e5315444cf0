"""Sign-up: a username that cannot pass for anyone else's, and that tells nothing of who exists."""

from django.contrib.auth import get_user_model
from django.contrib.auth.forms import UserCreationForm
from django.core.exceptions import ValidationError

from streams.names import name_check, name_normalise, name_skeleton

# One answer for a name that is taken, looks like one that is, or is reserved:
# the form then tells no more about who has an account than the login form does.
UNAVAILABLE = "This name is not available."
# Names that would pass for the site speaking; compared by skeleton, like users'.
RESERVED_USERNAMES = frozenset(
    {"admin", "administrator", "root", "staff", "support", "moderator", "system", "security"}
)


def username_available(username: str) -> bool:
    """No user's name, nor a reserved one, looks like `username` (see streams/names.py)."""
    skeleton = name_skeleton(username)
    if any(name_skeleton(reserved) == skeleton for reserved in RESERVED_USERNAMES):
        return False
    # Skeletons are not stored, so every name is read: fine for this site's size,
    # and sign-ups are rate-limited per address.
    names = get_user_model()._default_manager.values_list("username", flat=True)
    return all(name_skeleton(name) != skeleton for name in names.iterator())


class SignupForm(UserCreationForm):  # type: ignore[type-arg]
    """Django's sign-up form with the username judged as every name here is (streams/names.py)."""

    def clean_username(self) -> str:
        username = name_normalise(self.cleaned_data.get("username") or "")
        name_check(username, noun="A username")
        if not username_available(username):
            raise ValidationError(UNAVAILABLE, code="unavailable")
        return username
