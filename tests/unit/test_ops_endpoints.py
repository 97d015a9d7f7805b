"""/healthz, /readyz and /metrics on the real ASGI application (webclient/asgi.py), in this
process: answered before Django (any Host, no session), readiness with its checks."""

from __future__ import annotations

import json

import pytest
from channels.testing import HttpCommunicator

from webclient.asgi import application

pytestmark = pytest.mark.django_db(transaction=True)


async def get(path: str, headers: list[tuple[bytes, bytes]] | None = None) -> dict:
    communicator = HttpCommunicator(application, "GET", path, headers=headers or [])
    # HttpCommunicator has no client address; a scrape comes from loopback.
    communicator.scope["client"] = ("127.0.0.1", 40000)
    response = await communicator.get_response(timeout=10)
    await communicator.wait(timeout=5)  # the wrapper counts the request as it ends
    return response


async def test_healthz_answers_any_host():
    response = await get("/healthz", [(b"host", b"10.1.2.3:8001")])
    assert response["status"] == 200
    assert json.loads(response["body"]) == {"status": "alive", "draining": False}


async def test_readyz_checks_the_database_and_the_homeserver(settings):
    settings.MATRIX_HOMESERVER = ""
    response = await get("/readyz")
    body = json.loads(response["body"])
    assert response["status"] == 200, body
    assert body["checks"]["database"]["ok"] is True
    assert "homeserver" not in body["checks"] and "redis" not in body["checks"]

    settings.MATRIX_HOMESERVER = "http://127.0.0.1:9"  # nothing listens there
    response = await get("/readyz")
    body = json.loads(response["body"])
    assert response["status"] == 503
    assert body["status"] == "not ready"
    assert body["checks"]["database"]["ok"] is True
    assert body["checks"]["homeserver"]["ok"] is False
    assert body["checks"]["homeserver"]["error"]


async def test_readyz_checks_redis_when_configured(settings):
    settings.MATRIX_HOMESERVER = ""
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": ["redis://127.0.0.1:6379/0"]},
        }
    }
    body = json.loads((await get("/readyz"))["body"])
    assert body["checks"]["redis"]["ok"] is True
    settings.CHANNEL_LAYERS["default"]["CONFIG"]["hosts"] = ["redis://127.0.0.1:9/0"]
    response = await get("/readyz")
    assert response["status"] == 503
    assert json.loads(response["body"])["checks"]["redis"]["ok"] is False


async def test_metrics_from_loopback_only(settings):
    settings.METRICS_ALLOWED_IPS = ["127.0.0.1"]
    settings.METRICS_TOKEN = ""
    await get("/login/", [(b"host", b"localhost")])
    response = await get("/metrics")
    assert response["status"] == 200
    text = response["body"].decode()
    for name in (
        'webclient_open_viewers{kind="page"}',
        "webclient_devices_owned",
        "webclient_sync_lag_seconds_max",
        'webclient_sends_failed_total{kind="message"}',
        "webclient_render_cache_hits_total",
        "webclient_render_cache_misses_total",
        'webclient_http_requests_total{method="GET",status="200"}',
        "process_resident_memory_bytes",
    ):
        assert name in text, name

    settings.METRICS_ALLOWED_IPS = ["192.0.2.1"]
    assert (await get("/metrics"))["status"] == 403
    settings.METRICS_TOKEN = "tok"
    response = await get("/metrics", [(b"authorization", b"Bearer tok")])
    assert response["status"] == 200


async def test_lifespan_shutdown_drains_and_refuses_new_sockets():
    """Under a server with the ASGI lifespan protocol, shutdown runs the same drain; a
    socket that arrives while draining is refused (the page retries on another process)."""
    from channels.testing import ApplicationCommunicator

    from webclient.ops.lifecycle import Operations

    async def inner(scope, receive, send):  # pragma: no cover - never reached
        raise AssertionError("a draining process passed a socket on")

    ops = Operations(inner)
    lifespan = ApplicationCommunicator(ops, {"type": "lifespan"})
    await lifespan.send_input({"type": "lifespan.startup"})
    assert await lifespan.receive_output(5) == {"type": "lifespan.startup.complete"}
    await lifespan.send_input({"type": "lifespan.shutdown"})
    assert await lifespan.receive_output(15) == {"type": "lifespan.shutdown.complete"}
    assert ops.draining

    socket = ApplicationCommunicator(ops, {"type": "websocket", "path": "/ws/"})
    await socket.send_input({"type": "websocket.connect"})
    assert await socket.receive_output(5) == {"type": "websocket.close", "code": 1012}
    response = await get_from(ops, "/readyz")
    assert response["status"] == 503
    assert json.loads(response["body"])["draining"] is True


async def get_from(app, path: str) -> dict:
    communicator = HttpCommunicator(app, "GET", path)
    return await communicator.get_response(timeout=10)
