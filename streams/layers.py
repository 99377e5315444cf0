"""The embedded default's channel layer: Channels' in-memory layer, made cheap per message.

One process, one hub, one channel (streams/hub.py), and a group per room and
per signed-in user: a thousand sockets make some 1,200 groups. Channels'
`InMemoryChannelLayer` sweeps for expired messages and group memberships on
every `group_send` and every `receive`, walking every group each time: a
tenth of a chat message's server time in `make bench`'s many-rooms workload.
Its expiries are counted in seconds (a message's `expiry`, a membership's
`group_expiry`), so this layer sweeps at most once per `SWEEP_EVERY`
instead; what expires is still dropped, up to that much later. A
`group_send` hands the message to each channel of the group in turn, rather
than through a task per channel: `send` never waits on anything here.
"""

import contextlib
import time
from typing import Any

from channels import layers
from channels.exceptions import ChannelFull

# Seconds between two sweeps for expired messages and memberships.
SWEEP_EVERY = 1.0


class InMemoryChannelLayer(layers.InMemoryChannelLayer):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.swept_at = float("-inf")

    def _clean_expired(self) -> None:
        now = time.monotonic()
        if now - self.swept_at < SWEEP_EVERY:
            return
        self.swept_at = now
        super()._clean_expired()  # type: ignore[misc]  # not in the type stubs

    async def group_send(self, group: str, message: dict[str, Any]) -> None:
        assert isinstance(message, dict), "Message is not a dict"
        self.require_valid_group_name(group)
        self._clean_expired()
        for channel in list(self.groups.get(group, ())):
            # Dropped when full, as by Channels' layer: the event log fills the gap.
            with contextlib.suppress(ChannelFull):
                await self.send(channel, message)
