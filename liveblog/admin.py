"""The admin writes through the same services as the editors' desk, so readers see it live."""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError

from . import services
from .models import Liveblog, Post


@admin.register(Liveblog)
class LiveblogAdmin(admin.ModelAdmin):
    list_display = ["title", "slug", "ended_at", "last_published_at"]
    search_fields = ["title", "slug"]
    fields = ["title", "slug", "description", "ended"]

    class Form(forms.ModelForm):
        ended = forms.BooleanField(required=False, help_text="Ended liveblogs take no new posts.")

        class Meta:
            model = Liveblog
            fields = ["title", "slug", "description"]

        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.fields["ended"].initial = self.instance.pk and not self.instance.is_live

    form = Form

    def get_readonly_fields(self, request, obj=None):
        return ["slug"] if obj else []

    def save_model(self, request, obj, form, change) -> None:
        data = form.cleaned_data
        if change:
            services.liveblog_update(
                liveblog=obj,
                by=request.user,
                title=data["title"],
                description=data["description"],
                ended=data["ended"],
            )
        else:
            created = services.liveblog_create(
                title=data["title"],
                slug=data["slug"],
                description=data["description"],
                by=request.user,
            )
            obj.pk = created.pk
            if data["ended"]:
                services.liveblog_update(liveblog=created, by=request.user, ended=True)

    def has_delete_permission(self, request, obj=None) -> bool:
        # Deleting a liveblog would orphan its readers' streams; end it instead.
        return False


class PostForm(forms.ModelForm):
    # Not a model field here: model validation would refuse pinning while another
    # post is pinned, and the service unpins that one in the same transaction.
    pinned = forms.BooleanField(required=False, help_text="Pinning unpins the pinned post.")

    class Meta:
        model = Post
        fields = ["liveblog", "body", "state", "publish_at", "key_event"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["pinned"].initial = self.instance.pinned

    def clean(self):
        data = super().clean()
        if data.get("state") == Post.State.SCHEDULED and not data.get("publish_at"):
            self.add_error("publish_at", "A scheduled post needs a time.")
        return data


@admin.register(Post)
class PostAdmin(admin.ModelAdmin):
    form = PostForm
    list_display = ["summary", "liveblog", "state", "published_at", "pinned", "key_event"]
    list_filter = ["liveblog", "state", "key_event", "pinned"]
    search_fields = ["body"]
    actions = ["publish", "unpublish", "delete_posts"]

    def get_queryset(self, request):
        return super().get_queryset(request).filter(deleted_at__isnull=True)

    def get_readonly_fields(self, request, obj=None):
        return ["liveblog"] if obj else []

    # region: post-admin-save
    def save_model(self, request, obj, form, change) -> None:
        data = form.cleaned_data
        fields = {
            "body": data["body"],
            "state": data["state"],
            "publish_at": data["publish_at"],
            "pinned": data["pinned"],
            "key_event": data["key_event"],
        }
        if change:
            services.post_update(liveblog=obj.liveblog, post_id=obj.pk, by=request.user, **fields)
        else:
            created = services.post_create(liveblog=data["liveblog"], by=request.user, **fields)
            obj.pk = created.pk

    # endregion

    def delete_model(self, request, obj) -> None:
        services.post_delete(liveblog=obj.liveblog, post_id=obj.pk, by=request.user)

    def delete_queryset(self, request, queryset) -> None:
        for post in queryset.select_related("liveblog"):
            services.post_delete(liveblog=post.liveblog, post_id=post.pk, by=request.user)

    def get_actions(self, request):
        # The stock bulk delete would skip the services (and the broadcast).
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    def _each(self, request, queryset, change, done: str) -> None:
        count = 0
        for post in queryset.select_related("liveblog"):
            try:
                change(liveblog=post.liveblog, post_id=post.pk, by=request.user)
            except (ValidationError, PermissionDenied) as error:
                self.message_user(request, f"{post}: {error}", messages.ERROR)
            else:
                count += 1
        self.message_user(request, f"{done} {count} post(s).")

    @admin.action(description="Publish the selected posts now")
    def publish(self, request, queryset) -> None:
        self._each(request, queryset, services.post_publish, "Published")

    @admin.action(description="Unpublish the selected posts (back to drafts)")
    def unpublish(self, request, queryset) -> None:
        self._each(request, queryset, services.post_unpublish, "Unpublished")

    @admin.action(description="Delete the selected posts")
    def delete_posts(self, request, queryset) -> None:
        self._each(request, queryset, services.post_delete, "Deleted")
