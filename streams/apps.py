from django.apps import AppConfig
from django.urls import register_converter


class StreamsConfig(AppConfig):
    """The real-time engine: stream logs, broadcast, the stream consumer, the hub and presence."""

    name = "streams"
    verbose_name = "Streams"

    def ready(self) -> None:
        from .personal import PERSONAL, personal_resolve
        from .registry import stream_kind_register
        from .revocation import connect_receivers
        from .text import SlugConverter

        connect_receivers()
        stream_kind_register(PERSONAL, personal_resolve)
        # Before any URLconf or socket route is read, so both apps' routes can use it.
        register_converter(SlugConverter, "uslug")
