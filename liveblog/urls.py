from django.urls import path

from . import views
from .feeds import LiveblogFeed

app_name = "liveblog"
urlpatterns = [
    path("", views.liveblog_index, name="list"),
    path("<slug:slug>/", views.liveblog_detail, name="detail"),
    path("<slug:slug>/history", views.liveblog_history, name="history"),
    path("<slug:slug>/feed/", LiveblogFeed(), name="feed"),
    path("<slug:slug>/preview", views.post_preview, name="preview"),
    path("<slug:slug>/posts", views.post_new, name="post_new"),
    path("<slug:slug>/posts/<int:post_id>", views.post_change, name="post_change"),
    path("<slug:slug>/end", views.liveblog_end, name="end"),
    path("<slug:slug>/reopen", views.liveblog_reopen, name="reopen"),
]
