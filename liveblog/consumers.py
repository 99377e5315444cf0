"""The liveblog socket: /ws/liveblog/<slug>/?after=<seq>, open to everyone.

Editors follow the editors' stream (drafts included), everyone else the
readers' stream. The socket only listens: a client may ping and ask for a
replay, and any other frame is answered `not_allowed` without touching anything.
"""

from typing import Any

from channels.db import database_sync_to_async

from streams.consumers import StreamConsumer
from streams.schemas import ProtocolError, client_id_of

from .models import EDITORS, READERS
from .protocol import CLIENT
from .selectors import liveblog_events, liveblog_get, liveblog_head, user_is_editor


class LiveblogConsumer(StreamConsumer):
    protocol = CLIENT
    presence_names = False

    # region: liveblog-audience
    async def authorise(self) -> bool:
        slug = self.scope["url_route"]["kwargs"]["slug"]
        self.liveblog, editor = await database_sync_to_async(self.load)(slug)
        self.audience = EDITORS if editor else READERS
        return self.liveblog is not None

    # endregion

    def load(self, slug: str):
        return liveblog_get(slug=slug), user_is_editor(self.user)

    def stream_group(self) -> str:
        return self.liveblog.group_name(self.audience)

    def presence_group(self) -> str:
        return self.liveblog.presence_group

    def stream_events(self):
        return liveblog_events(liveblog=self.liveblog, audience=self.audience)

    def stream_head(self) -> int:
        return liveblog_head(liveblog=self.liveblog, audience=self.audience)

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        if isinstance(content, dict) and not CLIENT.speaks(content.get("type")):
            detail = "This socket only listens; editors write over HTTP."
            error = ProtocolError("not_allowed", detail, client_id=client_id_of(content))
            await self.send_error(error)
            return
        await super().receive_json(content, **kwargs)
