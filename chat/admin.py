from django.contrib import admin

from .models import Message, Room


@admin.register(Room)
class RoomAdmin(admin.ModelAdmin):
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
