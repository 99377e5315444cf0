from django import forms
from django.conf import settings


class RoomForm(forms.Form):
    name = forms.CharField(
        max_length=80, help_text="Letters of one script, digits and spaces; it becomes the address."
    )
    description = forms.CharField(max_length=200, required=False)
    private = forms.BooleanField(
        required=False,
        help_text="Only the people you add can find it and read it.",
    )


class MemberAddForm(forms.Form):
    username = forms.CharField(max_length=150, label="Add someone by username")


class DirectForm(forms.Form):
    usernames = forms.CharField(
        max_length=1000, label="Usernames", help_text="Separated by spaces or commas."
    )

    def clean_usernames(self) -> list[str]:
        names = self.cleaned_data["usernames"].replace(",", " ").split()
        if not names:
            raise forms.ValidationError("Name at least one person.")
        return list(dict.fromkeys(names))


class SearchForm(forms.Form):
    q = forms.CharField(label="Search messages", required=False)
    # The page of results before this message id (the previous page's last).
    before = forms.IntegerField(required=False, min_value=1, widget=forms.HiddenInput)

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # The limit is read when used, not at import: deployments and tests change it.
        self.fields["q"] = forms.CharField(
            label="Search messages", required=False, max_length=settings.CHAT_SEARCH_QUERY_MAX
        )
