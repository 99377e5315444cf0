from django.apps import AppConfig


class ChatConfig(AppConfig):
    name = "chat"
    verbose_name = "Chat"

    def ready(self) -> None:
        from streams.registry import stream_kind_register

        from .streams import PREFIX, rooms_resolve, rooms_resolve_each

        stream_kind_register(PREFIX, rooms_resolve, each=rooms_resolve_each)
