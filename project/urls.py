"""The site's URL map: its own pages, each app's pages, and the admin where ADMIN_URL says."""

from django.conf import settings
from django.contrib import admin
from django.urls import URLPattern, URLResolver, include, path

from website.views import login_guarded


# region: admin-urls
def admin_urls(prefix: str) -> list[URLPattern | URLResolver]:
    """The admin under `prefix` ("admin/", "staff-7f3a/"), or nothing when it is empty."""
    prefix = prefix.strip("/")
    if not prefix:
        return []
    return [
        # Before the admin's own patterns, so its login counts failures too.
        path(f"{prefix}/login/", login_guarded(admin.site.login)),
        path(f"{prefix}/", admin.site.urls),
    ]
    # endregion


urlpatterns = [
    path("", include("website.urls")),
    path("chat/", include("chat.urls")),
    path("live/", include("liveblog.urls")),
    *admin_urls(settings.ADMIN_URL),
]
