from django.urls import path

from . import views

app_name = "chat"
urlpatterns = [
    path("", views.room_index, name="list"),
    path("<uslug:slug>/", views.room_detail, name="detail"),
    path("<uslug:slug>/history", views.room_history, name="history"),
]
