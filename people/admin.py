from django import forms
from django.contrib import admin

from .models import Profile
from .services import display_name_clean


class ProfileAdminForm(forms.ModelForm):
    """A display name judged in the admin as every write judges it."""

    class Meta:
        model = Profile
        fields = ["user", "display_name"]

    def clean_display_name(self) -> str:
        return display_name_clean(self.cleaned_data["display_name"])


@admin.register(Profile)
class ProfileAdmin(admin.ModelAdmin):
    form = ProfileAdminForm
    list_display = ["user", "display_name", "updated_at"]
    search_fields = ["user__username", "display_name"]
    raw_id_fields = ["user"]
