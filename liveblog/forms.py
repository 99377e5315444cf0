from typing import Any, ClassVar

from django import forms

from .models import Post
from .protocol import MAX_BODY


class LiveblogForm(forms.Form):
    title = forms.CharField(max_length=120)
    slug = forms.SlugField(
        max_length=80, required=False, help_text="The address; made from the title if blank."
    )
    description = forms.CharField(max_length=300, required=False)


class PostForm(forms.Form):
    """The composer. `action` is the button pressed: Publish, Save draft or Schedule."""

    ACTIONS = {
        "publish": Post.State.PUBLISHED,
        "draft": Post.State.DRAFT,
        "schedule": Post.State.SCHEDULED,
    }

    body = forms.CharField(max_length=MAX_BODY, strip=True)
    action = forms.ChoiceField(choices=[(a, a) for a in ACTIONS])
    publish_at = forms.DateTimeField(required=False)
    key_event = forms.BooleanField(required=False)
    pinned = forms.BooleanField(required=False)

    def clean(self):
        data = super().clean()
        action, publish_at = data.get("action"), data.get("publish_at")
        if action == "schedule" and not publish_at:
            self.add_error("publish_at", "Choose when to publish.")
        # A time the editor typed is never dropped: publishing now would ignore it.
        if action in ("publish", "draft") and publish_at:
            self.add_error(
                "publish_at",
                "You chose a time in “Schedule for”: press Schedule to publish then,"
                " or clear the time first.",
            )
        return data

    @property
    def state(self) -> str:
        return self.ACTIONS[self.cleaned_data["action"]]


class PostActionForm(forms.Form):
    """One change to a post: the button pressed, and the new text for `edit`."""

    # Each of a post's buttons but Edit and Delete, as the arguments of services.post_update.
    CHANGES: ClassVar[dict[str, dict[str, Any]]] = {
        "publish": {"state": Post.State.PUBLISHED},
        "unpublish": {"state": Post.State.DRAFT},
        "pin": {"pinned": True},
        "unpin": {"pinned": False},
        "key": {"key_event": True},
        "unkey": {"key_event": False},
    }

    action = forms.ChoiceField(choices=[(a, a) for a in ["edit", "delete", *CHANGES]])
    body = forms.CharField(max_length=MAX_BODY, required=False, strip=True)

    @property
    def changes(self) -> dict[str, Any]:
        """What services.post_update changes for the button pressed (not for delete)."""
        action = self.cleaned_data["action"]
        if action == "edit":
            return {"body": self.cleaned_data["body"]}
        return self.CHANGES[action]
