"""The embedded default's channel layer: Channels' in-memory layer, swept once a second."""

from channels import layers as channels_layers
from django.conf import settings

from streams.broadcast import channel_layer
from streams.layers import InMemoryChannelLayer


def test_the_embedded_default_runs_this_layer():
    assert settings.CHANNEL_LAYERS["default"]["BACKEND"] == "streams.layers.InMemoryChannelLayer"


async def test_a_thousand_groups_are_swept_once_for_a_hundred_sends_not_once_each(monkeypatch):
    sweeps = []
    sweep = channels_layers.InMemoryChannelLayer._clean_expired
    monkeypatch.setattr(
        channels_layers.InMemoryChannelLayer,
        "_clean_expired",
        lambda self: (sweeps.append(1), sweep(self))[1],
    )
    layer = InMemoryChannelLayer()
    channel = await layer.new_channel()
    for n in range(1000):
        await layer.group_add(f"room-{n}", channel)
    for n in range(100):
        await layer.group_send(f"room-{n}", {"type": "stream.event", "n": n})
        assert (await layer.receive(channel))["n"] == n
    assert len(sweeps) == 1


async def test_a_group_send_reaches_every_channel_of_the_group_and_skips_a_full_one():
    layer = InMemoryChannelLayer(capacity=1)
    full, other = await layer.new_channel(), await layer.new_channel()
    for channel in (full, other):
        await layer.group_add("room", channel)
    await layer.send(full, {"type": "first"})
    await layer.group_send("room", {"type": "second"})
    assert (await layer.receive(full))["type"] == "first"
    assert (await layer.receive(other))["type"] == "second"


async def test_the_project_s_layer_is_still_channels_in_memory_layer():
    # liveblog/scheduler.py tells the embedded default by this.
    assert isinstance(channel_layer(), channels_layers.InMemoryChannelLayer)
