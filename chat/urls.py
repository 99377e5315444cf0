from django.urls import path

from . import views

app_name = "chat"
urlpatterns = [
    path("", views.room_index, name="room_list"),
    path("<slug:slug>/", views.room_detail, name="room"),
    path("<slug:slug>/history", views.room_history, name="history"),
]
