"""Sign-up: a username that cannot pass for anyone else's, and that tells nothing of who exists;
and a profile, whose display name cannot pass for anyone else's username either."""

from typing import Any

from django import forms
from django.contrib.auth import get_user_model
from django.contrib.auth.forms import UserCreationForm
from django.core.exceptions import ValidationError

from people.models import MAX_DISPLAY_NAME
from people.services import display_name_clean
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


class ProfileForm(forms.Form):
    """Your profile: the name others see, and the address a password reset is sent to.

    A display name is judged as a username is (one script, nothing hidden), and
    may not look like anyone else's username, nor a reserved one: it is shown
    where a username was, and must not pass for someone else. A new email
    address needs the current password, so that a borrowed session cannot take
    the account over through a reset.
    """

    display_name = forms.CharField(
        required=False,
        max_length=MAX_DISPLAY_NAME,
        help_text="Shown beside your messages and posts. Leave it empty to show your username.",
    )
    email = forms.EmailField(
        required=False, help_text="Where a password reset link is sent. Nobody else sees it."
    )
    password = forms.CharField(
        label="Current password",
        required=False,
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
        help_text="Needed only to change your email address.",
    )

    def __init__(self, *args: Any, user: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.user = user

    def clean_display_name(self) -> str:
        value = self.cleaned_data.get("display_name") or ""
        name = display_name_clean(name_normalise(value))
        if name:
            name_check(name, noun="A display name")
            if not display_name_available(name, user=self.user):
                raise ValidationError(UNAVAILABLE, code="unavailable")
        return name

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        email = data.get("email")
        if email is not None and email != self.user.email:
            password = data.get("password") or ""
            if not self.user.check_password(password):
                self.add_error("password", "Enter your current password to change your email.")
        return data


def display_name_available(name: str, *, user: Any) -> bool:
    """No other user's username, nor a reserved one, looks like `name`."""
    skeleton = name_skeleton(name)
    if any(name_skeleton(reserved) == skeleton for reserved in RESERVED_USERNAMES):
        return False
    others = get_user_model()._default_manager.exclude(pk=user.pk)
    names = others.values_list("username", flat=True)
    return all(name_skeleton(other) != skeleton for other in names.iterator())
