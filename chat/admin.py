from django import forms
from django.contrib import admin

from .models import Membership, Message, Room
from .services import room_name_clean


class RoomAdminForm(forms.ModelForm):
    """A room's name judged in the admin as on the site: one script, nothing hidden."""

    class Meta:
        model = Room
        fields = ["name", "slug", "description"]

    def clean_name(self) -> str:
        return room_name_clean(self.cleaned_data["name"])


class MembershipInline(admin.TabularInline):
    """Read-only: members join, leave and are added or removed through the chat services,
    which tell each user's tabs and drop a removed member's subscriptions."""

    model = Membership
    fields = ["user", "role", "read", "joined_at"]
    readonly_fields = ["user", "role", "read", "joined_at"]
    extra = 0

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Room)
class RoomAdmin(admin.ModelAdmin):
    form = RoomAdminForm
    list_display = ["name", "slug", "kind", "last_seq", "last_activity_at"]
    list_filter = ["kind"]
    search_fields = ["name", "slug"]
    # A room's kind is chosen when it is made (on the site): changing it here would leave
    # sockets open that the new kind refuses.
    readonly_fields = ["kind", "last_seq", "last_activity_at", "created_by"]

    def get_inlines(self, request, obj=None) -> list:
        """The members of a room that exists (a room made here has none yet)."""
        return [MembershipInline] if obj is not None else []


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
