"""/healthz: a real query and a real channel-layer round trip, or a 503 naming what failed."""

import json

import pytest


@pytest.mark.stack
@pytest.mark.django_db
async def test_healthz_reports_both_parts_ok(async_client):
    response = await async_client.get("/healthz")

    assert response.status_code == 200
    assert response.json() == {"database": "ok", "channel_layer": "ok"}
    assert "no-cache" in response["Cache-Control"]


@pytest.mark.stack
def test_healthz_on_a_live_server_names_the_channel_layer_when_redis_goes(
    daphne_factory, fresh_redis
):
    server = daphne_factory(REDIS_URL=fresh_redis.url)

    status, body = server.get("/healthz")
    assert (status, json.loads(body)) == (200, {"database": "ok", "channel_layer": "ok"})

    fresh_redis.stop()

    status, body = server.get("/healthz")
    report = json.loads(body)
    assert status == 503
    assert report["database"] == "ok"
    assert report["channel_layer"] != "ok"
