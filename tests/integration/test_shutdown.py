"""Graceful shutdown of a real daphne process (webclient/ops/lifecycle.py): on SIGTERM the
open websockets are closed with 1012 (service restart), the device's encryption lease is
released at once (not left to time out), and the process exits well within systemd's stop
timeout. The metrics saw the socket and the device before."""

from __future__ import annotations

import asyncio
import os
import signal
import time
import uuid

import aiohttp

from tests.deploy_helpers import (
    browser_like_client,
    flush_redis,
    lease_owners,
    metrics_of,
    postgres_database,
    sign_in,
    wait_for,
)
from tests.server import start_webclient, stop_webclient

REDIS = "redis://127.0.0.1:6379/6"


async def test_sigterm_closes_sockets_with_1012_and_releases_the_lease(
    synapse, make_user, tmp_path
):
    flush_redis(REDIS)
    me = make_user("me")
    with postgres_database("webclient_shutdown") as database:
        server = start_webclient(
            tmp_path,
            synapse.url,
            DATABASE_URL=database,
            REDIS_URL=REDIS,
            SECRET_KEY=uuid.uuid4().hex * 2,
            # Long, so that a lease that merely timed out could not pass for a released one.
            CRYPTO_LEASE_TTL="60",
        )
        try:
            async with browser_like_client() as client:
                await sign_in(client, server.url, synapse, me)
                socket = await client.ws_connect(
                    f"{server.url.replace('http', 'ws')}/ws/", origin=server.url
                )
                hello = await socket.receive_json(timeout=10)
                assert hello["type"] == "hello"
                # The device's sync loop runs and holds the device's lease.
                owners = await asyncio.to_thread(wait_for, lambda: lease_owners(REDIS))
                (owner,) = owners.values()
                assert owner.split(":")[1] == str(server.process.pid)
                figures = await asyncio.to_thread(metrics_of, server.url)
                assert figures['webclient_open_viewers{kind="page"}'] == 1
                assert figures["webclient_devices_owned"] == 1
                assert figures["webclient_device_leases_held"] == 1

                started = time.monotonic()
                os.kill(server.process.pid, signal.SIGTERM)
                closing = await socket.receive(timeout=10)
                while closing.type == aiohttp.WSMsgType.TEXT:  # what the page was told before
                    closing = await socket.receive(timeout=10)
                assert closing.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED), closing
                assert socket.close_code == 1012, (closing, socket.close_code, server.log())
                await socket.close()
            await asyncio.to_thread(server.process.wait, 15)
            took = time.monotonic() - started
            assert server.process.returncode == 0, server.log()
            assert took < 10, took
            # Released by the process as it stopped, long before its 60 s would run out.
            assert lease_owners(REDIS) == {}
            log = server.log()
            assert "shutting down: closing 1 websockets (1012)" in log
            assert "shut down: 0 websockets and 0 requests left" in log
        finally:
            stop_webclient(server)
