from django.urls import path

from .multiplex import MultiplexConsumer

websocket_urlpatterns = [
    # django-stubs types path() for views; channels routes consumers with it too.
    path("ws/", MultiplexConsumer.as_asgi()),  # type: ignore[arg-type]
]
