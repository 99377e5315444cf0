from django import forms
from django.contrib import admin

from .models import Message, Room
from .services import room_name_clean


class RoomAdminForm(forms.ModelForm):
    """A room's name judged in the admin as on the site: one script, nothing hidden."""

    class Meta:
        model = Room
        fields = ["name", "slug", "description"]

    def clean_name(self) -> str:
        return room_name_clean(self.cleaned_data["name"])


@admin.register(Room)
class RoomAdmin(admin.ModelAdmin):
    form = RoomAdminForm
    list_display = ["name", "slug", "last_seq", "last_activity_at"]
    search_fields = ["name", "slug"]
    readonly_fields = ["last_seq", "last_activity_at", "created_by"]


@admin.register(Message)
class MessageAdmin(admin.ModelAdmin):
    """Read-only: messages change through the chat services, which broadcast."""

    list_display = ["room", "author", "seq", "created_at", "deleted_at"]
    list_filter = ["room"]
    search_fields = ["body", "author__username"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
