from django.urls import path

from .consumers import LiveblogConsumer

websocket_urlpatterns = [
    # django-stubs types path() for views; channels routes consumers with it too.
    path("ws/liveblog/<slug:slug>/", LiveblogConsumer.as_asgi()),  # type: ignore[arg-type]
]
