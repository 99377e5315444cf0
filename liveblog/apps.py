from django.apps import AppConfig


class LiveblogConfig(AppConfig):
    name = "liveblog"
    verbose_name = "Liveblog"

    def ready(self) -> None:
        from streams.registry import stream_kind_register

        from .streams import PREFIX, liveblogs_resolve

        stream_kind_register(PREFIX, liveblogs_resolve)
