"""The chat socket: /ws/chat/<slug>/?after=<seq>, on one room's stream (chat/streams.py)."""

from streams.consumers import StreamConsumer

from .protocol import CLIENT
from .streams import PREFIX


# region: chat-consumer
class ChatConsumer(StreamConsumer):
    protocol = CLIENT
    sign_in_required = True

    def stream_name(self) -> str:
        """The room the URL names; a room that does not exist, or that the user may not
        read, refuses the handshake (anonymous sockets were closed with 4401)."""
        return f"{PREFIX}:{self.scope['url_route']['kwargs']['slug']}"


# endregion
