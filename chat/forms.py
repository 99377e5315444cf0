from django import forms


class RoomForm(forms.Form):
    name = forms.CharField(
        max_length=80, help_text="Letters of one script, digits and spaces; it becomes the address."
    )
    description = forms.CharField(max_length=200, required=False)
