from django.urls import path

from . import views

app_name = "chat"
urlpatterns = [
    path("", views.room_index, name="list"),
    # Before the rooms' own addresses; no room takes the slug "dm" or "search"
    # (services.RESERVED_SLUGS).
    path("dm/", views.dm_open, name="dm"),
    path("search/", views.search, name="search"),
    path("<uslug:slug>/", views.room_detail, name="detail"),
    path("<uslug:slug>/history", views.room_history, name="history"),
    path("<uslug:slug>/join", views.room_join, name="join"),
    path("<uslug:slug>/leave", views.room_leave, name="leave"),
    path("<uslug:slug>/members", views.room_members, name="members"),
]
