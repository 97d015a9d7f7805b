"""Keep-alive pings under real daphne with its connection walk done a slice at a time
(webclient/ops/timers.py): a page's socket that answers is pinged every interval and stays
open; one that stops answering is closed after daphne's ping timeout, as daphne alone does."""

from __future__ import annotations

import asyncio
import time

import aiohttp
import pytest

from tests.deploy_helpers import browser_like_client, sign_in
from tests.server import start_webclient, stop_webclient

pytestmark = pytest.mark.timeout(120)


async def test_pings_keep_an_answering_socket_and_drop_a_silent_one(synapse, make_user, tmp_path):
    me = make_user("me")
    server = start_webclient(
        tmp_path, synapse.url, daphne_args=("--ping-interval", "1", "--ping-timeout", "2")
    )
    try:
        async with browser_like_client() as client:
            await sign_in(client, server.url, synapse, me)
            url = f"{server.url.replace('http', 'ws')}/ws/"
            answering = await client.ws_connect(url, origin=server.url, autoping=False)
            silent = await client.ws_connect(url, origin=server.url, autoping=False)
            for socket in (answering, silent):
                hello = await socket.receive_json(timeout=10)
                assert hello["type"] == "hello"

            async def answer_for(seconds: float) -> int:
                pings = 0
                deadline = time.monotonic() + seconds
                while (left := deadline - time.monotonic()) > 0:
                    try:
                        message = await answering.receive(timeout=left)
                    except TimeoutError:
                        break
                    if message.type == aiohttp.WSMsgType.PING:
                        pings += 1
                        await answering.pong(message.data)
                    assert message.type not in (
                        aiohttp.WSMsgType.CLOSE,
                        aiohttp.WSMsgType.CLOSED,
                    ), message
                return pings

            async def until_closed() -> float:
                started = time.monotonic()
                while True:
                    message = await silent.receive(timeout=30)
                    if message.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED):
                        return time.monotonic() - started

            pings, closed_after = await asyncio.gather(answer_for(8), until_closed())
            # Every interval (1 s) on a walk of 2 s: several in 8 s, and still open.
            assert pings >= 2, server.log()
            assert not answering.closed
            # The silent one: pinged within its first interval (plus a walk), closed when
            # the pong is 2 s late.
            assert closed_after < 8, closed_after
            await answering.close()
    finally:
        stop_webclient(server)
