"""The site's URL map: the site's own pages, each app's pages, and the admin."""

from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("", include("website.urls")),
    path("chat/", include("chat.urls")),
    path("live/", include("liveblog.urls")),
    path("admin/", admin.site.urls),
]
