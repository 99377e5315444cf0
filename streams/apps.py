from django.apps import AppConfig


class StreamsConfig(AppConfig):
    """The real-time engine: stream logs, broadcast, the stream consumer, the hub and presence."""

    name = "streams"
    verbose_name = "Streams"

    def ready(self) -> None:
        from .revocation import connect_receivers

        connect_receivers()
