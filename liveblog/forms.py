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
        if data.get("action") == "schedule" and not data.get("publish_at"):
            self.add_error("publish_at", "Choose when to publish.")
        return data

    @property
    def state(self) -> str:
        return self.ACTIONS[self.cleaned_data["action"]]


class PostActionForm(forms.Form):
    """One change to a post: the button pressed, and the new text for `edit`."""

    action = forms.ChoiceField(
        choices=[
            (a, a)
            for a in ("edit", "publish", "unpublish", "delete", "pin", "unpin", "key", "unkey")
        ]
    )
    body = forms.CharField(max_length=MAX_BODY, required=False, strip=True)
