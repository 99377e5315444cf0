"""A person's profile: what they chose to be called, beside the username they log in with."""

from django.conf import settings
from django.db import models

MAX_DISPLAY_NAME = 50


class Profile(models.Model):
    """Made the first time a person sets something (`profile_update`); until then the
    defaults stand: the username as the display name."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, primary_key=True, related_name="profile"
    )
    # Blank: shown as the username.
    display_name = models.CharField(max_length=MAX_DISPLAY_NAME, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return self.display_name or str(self.user)
