"""The liveblog socket: /ws/liveblog/<slug>/?after=<seq>, open to everyone.

It follows the liveblog's stream for the user's audience (liveblog/streams.py).
The socket only listens: a client may ping and ask for a replay, and any other
frame is answered `not_allowed` without touching anything.
"""

from typing import Any

from streams.consumers import StreamConsumer
from streams.schemas import ProtocolError, client_id_of

from .protocol import CLIENT
from .scheduler import scheduler_ensure
from .streams import PREFIX


class LiveblogConsumer(StreamConsumer):
    protocol = CLIENT

    def stream_name(self) -> str:
        return f"{PREFIX}:{self.scope['url_route']['kwargs']['slug']}"

    async def connect(self) -> None:
        """Called when the socket opens."""
        # Where only this process's sockets hear its broadcasts, it publishes on time itself.
        scheduler_ensure()
        await super().connect()

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        if isinstance(content, dict) and not CLIENT.speaks(content.get("type")):
            detail = "This socket only listens; editors write over HTTP."
            error = ProtocolError("not_allowed", detail, client_id=client_id_of(content))
            await self.send_error(error)
            return
        await super().receive_json(content, **kwargs)
