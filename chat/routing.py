from django.urls import path

from .consumers import ChatConsumer

# region: chat-route
websocket_urlpatterns = [
    # django-stubs types path() for views; channels routes consumers with it too.
    path("ws/chat/<uslug:slug>/", ChatConsumer.as_asgi()),  # type: ignore[arg-type]
]
# endregion
