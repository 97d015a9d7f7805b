"""The production topology, with Debian's real nginx: the shipped site
(deploy/nginx/webclient.conf, rendered for free ports, TLS with a self-signed certificate) in
front of two daphne processes started as the systemd unit starts them, on PostgreSQL and
Redis, with the documented production settings (static files collected: hashed names,
Brotli and gzip).

Checked through nginx: pages and the HTTP→HTTPS redirect, forwarded headers (the scheme for
CSRF and secure cookies, the client's address, a spoofed X-Forwarded-For ignored), both
processes serving, static files served by nginx with their caching headers and compression,
and in Chromium: every ES module loaded once under its hashed name, the websocket through
nginx, and a graceful restart of the process holding it (closed with 1012; the page
reconnects, through nginx, to the other process and keeps receiving)."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import time
import urllib.error
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest
from playwright.sync_api import expect

from tests.browser.helpers import login_with_password, open_room, send_text, shared_room
from tests.deploy_helpers import (
    browser_like_client,
    flush_redis,
    insecure_tls,
    metrics_of,
    postgres_database,
    sign_in,
    wait_for,
)
from tests.server import free_port
from webclient.ops.cluster import manage, production_env, start_daphne, stop_daphne
from webclient.ops.nginx import Nginx, Site, self_signed_certificate

REDIS = "redis://127.0.0.1:6379/7"
HASHED = re.compile(r"\.[0-9a-f]{12}\.(js|css)$")


@dataclass
class Deployment:
    url: str  # https://127.0.0.1:<port>, through nginx
    http_url: str
    backends: list[str]  # http://127.0.0.1:<port> of each daphne
    processes: list
    logs: list[Path]
    static_root: Path
    env: dict[str, str]

    def access_log(self, index: int) -> list[dict]:
        """The `webclient.access` lines of one process (JSON logs, ACCESS_LOG=on)."""
        found = []
        for line in self.logs[index].read_text(errors="replace").splitlines():
            if line.startswith("{"):
                record = json.loads(line)
                if record.get("logger") == "webclient.access":
                    found.append(record)
        return found


@pytest.fixture(scope="module")
def deployment(synapse, tmp_path_factory):
    root = tmp_path_factory.mktemp("deploy")
    flush_redis(REDIS)
    https_port, http_port = free_port(), free_port()
    url = f"https://127.0.0.1:{https_port}"
    with postgres_database("webclient_deploy") as database:
        env = production_env(
            root,
            database_url=database,
            redis_url=REDIS,
            homeserver=synapse.url,
            public_origins=[url],
        )
        env.update(
            ACCESS_LOG="on",
            LOG_FORMAT="json",
            SECURE_HSTS_SECONDS="31536000",
            MATRIX_SYNC_TIMEOUT_MS="10000",
        )
        manage(env, "migrate", "--noinput")
        manage(env, "collectstatic", "--noinput")
        ports = [free_port(), free_port()]
        processes, logs = [], []
        nginx = None
        try:
            for port in ports:
                logs.append(root / f"daphne-{port}.log")
                processes.append(start_daphne(env, port, logs[-1]))
            cert, key = self_signed_certificate(root / "tls", ["127.0.0.1"])
            site = Site(
                server_name="127.0.0.1",
                backends=[f"127.0.0.1:{port}" for port in ports],
                static_root=root / "static",
                certificate=cert,
                certificate_key=key,
                https_listen=f"127.0.0.1:{https_port}",
                http_listen=f"127.0.0.1:{http_port}",
            )
            nginx = Nginx(root / "nginx", site).start()
            yield Deployment(
                url=url,
                http_url=f"http://127.0.0.1:{http_port}",
                backends=[f"http://127.0.0.1:{port}" for port in ports],
                processes=processes,
                logs=logs,
                static_root=root / "static",
                env=env,
            )
        finally:
            if nginx is not None:
                nginx.stop()
            for process in processes:
                stop_daphne(process)


def fetch(url: str, headers: dict[str, str] | None = None):
    """(status, headers, body) without following redirects."""

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):
            return None

    opener = urllib.request.build_opener(
        NoRedirect, urllib.request.HTTPSHandler(context=insecure_tls())
    )
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with opener.open(request, timeout=10) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read()


def test_pages_through_nginx_over_https(deployment):
    status, headers, _ = fetch(f"{deployment.http_url}/login/?next=/rooms/")
    assert status == 301
    assert headers["Location"] == f"{deployment.url}/login/?next=/rooms/"

    status, headers, body = fetch(f"{deployment.url}/login/")
    assert status == 200
    assert b'id="login-form"' in body
    # Django knows the request came over HTTPS (X-Forwarded-Proto): HSTS, Secure cookies.
    assert headers["Strict-Transport-Security"].startswith("max-age=31536000")
    cookies = headers.get_all("Set-Cookie")
    assert cookies and all("Secure" in cookie for cookie in cookies), cookies

    status, _, body = fetch(f"{deployment.url}/readyz")
    assert status == 200, body
    assert json.loads(body)["checks"]["homeserver"]["ok"] is True
    # Per-process figures are not for the outside.
    assert fetch(f"{deployment.url}/metrics")[0] == 404


def test_every_process_serves_pages(deployment):
    before = [
        metrics_of(backend).get('webclient_http_requests_total{method="GET",status="200"}', 0)
        for backend in deployment.backends
    ]
    for _ in range(6):
        assert fetch(f"{deployment.url}/login/")[0] == 200

    def served() -> list[float] | None:
        # A request is counted as its handling ends, just after its response went out.
        after = [
            metrics_of(backend).get('webclient_http_requests_total{method="GET",status="200"}', 0)
            for backend in deployment.backends
        ]
        counts = [b - a for a, b in zip(before, after, strict=True)]
        return counts if sum(counts) >= 6 else None

    counts = wait_for(served, timeout=10)
    assert all(count >= 2 for count in counts), counts


def test_forwarded_headers_are_honoured(deployment, synapse, make_user):
    me = make_user("fwd")

    async def scenario() -> None:
        # From another loopback address, with a forged X-Forwarded-For of its own.
        connector = aiohttp.TCPConnector(ssl=insecure_tls(), local_addr=("127.0.0.2", 0))
        async with browser_like_client(
            connector=connector, headers={"X-Forwarded-For": "203.0.113.9"}
        ) as client:
            # The sign-in's CSRF check compares the https Origin with the request's scheme:
            # it passes only when daphne/Django took the scheme from X-Forwarded-Proto.
            await sign_in(client, deployment.url, synapse, me)

    # In a thread: Playwright's sync API may hold this thread's event loop.
    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, scenario()).result()

    def login_posts() -> list[dict]:
        return [
            record
            for index in range(2)
            for record in deployment.access_log(index)
            if record["path"] == "/login/" and record["method"] == "POST"
        ]

    # A process writes its access log line after the response: give it a moment.
    deadline = time.monotonic() + 10
    while not login_posts() and time.monotonic() < deadline:
        time.sleep(0.2)
    logins = login_posts()
    assert logins and all(record["client"] == "127.0.0.2" for record in logins), logins
    assert all(record["status"] == 302 for record in logins)


def test_static_files_are_served_by_nginx_hashed_and_compressed(deployment):
    manifest = json.loads((deployment.static_root / "staticfiles.json").read_text())["paths"]
    live = manifest["js/live.js"]
    assert HASHED.search(live)
    original = (deployment.static_root / live).read_bytes()
    url = f"{deployment.url}/static/{live}"

    status, headers, body = fetch(url, {"Accept-Encoding": "br, gzip"})
    assert status == 200
    assert headers["Content-Encoding"] == "br"
    assert body == (deployment.static_root / f"{live}.br").read_bytes()
    assert headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert "Accept-Encoding" in headers.get("Vary", "")
    assert headers["Server"] == "nginx"
    assert headers["Content-Type"].startswith(("application/javascript", "text/javascript"))

    status, headers, body = fetch(url, {"Accept-Encoding": "gzip"})
    assert (status, headers["Content-Encoding"]) == (200, "gzip")
    status, headers, body = fetch(url, {"Accept-Encoding": "identity"})
    assert status == 200 and "Content-Encoding" not in headers and body == original

    # The stylesheet the pages name, and an unhashed name: cached briefly.
    _, _, page = fetch(f"{deployment.url}/login/")
    css = re.search(rb'href="/static/(css/[^"]+)"', page).group(1).decode()
    assert css == manifest["css/webclient.css"]
    assert fetch(f"{deployment.url}/static/{css}")[1]["Cache-Control"].endswith("immutable")
    status, headers, _ = fetch(f"{deployment.url}/static/js/live.js")
    assert (status, headers["Cache-Control"]) == (200, "public, max-age=60")
    # None of it reached daphne.
    for index in range(2):
        assert not [r for r in deployment.access_log(index) if r["path"].startswith("/static/")]


# Runs last: it stops one of the two processes.
def test_modules_load_once_and_a_restart_moves_the_socket(browser, deployment, synapse, make_user):
    me = make_user("me", displayname="Me Myself")
    bob = make_user("bob", displayname="Bob Builder")
    room = shared_room(synapse, bob, me, name="Deployed room")
    context = browser.new_context(ignore_https_errors=True)
    # Close codes the page's sockets see (Playwright's init scripts are not subject to CSP).
    context.add_init_script(
        """(() => {
          const Native = window.WebSocket;
          window.__closeCodes = [];
          window.WebSocket = class extends Native {
            constructor(...args) {
              super(...args);
              this.addEventListener("close", (e) => window.__closeCodes.push(e.code));
            }
          };
        })();"""
    )
    scripts: list[str] = []
    try:
        page = context.new_page()
        page.set_default_timeout(20000)
        page.on(
            "request",
            lambda request: (
                scripts.append(request.url) if request.resource_type == "script" else None
            ),
        )
        login_with_password(page, deployment.url, synapse, me)
        scripts.clear()
        open_room(page, deployment.url, room)

        # Every module once, under its hashed name: the imports between modules were
        # rewritten to the same hashed files the page names.
        # (The translation catalog, /jsi18n/, is a view: not a static file.)
        names = [url.rsplit("/", 1)[1] for url in scripts if "/static/" in url]
        assert names and all(HASHED.search(name) for name in names), names
        assert len(names) == len(set(names)), names
        bases = [HASHED.sub("", name) for name in names]
        assert len(bases) == len(set(bases)), names
        for module in ("live", "socket", "bus", "composer", "upload", "history"):
            assert module in bases, names
        # So are the modules loaded when first wanted (the room switcher, the dialog).
        page.keyboard.press("Control+k")
        expect(page.locator("#room-switcher")).to_be_visible()
        page.keyboard.press("Escape")
        names = [url.rsplit("/", 1)[1] for url in scripts if "/static/" in url]
        assert any(name.startswith("switcher.") for name in names), names
        assert all(HASHED.search(name) for name in names), names
        bases = [HASHED.sub("", name) for name in names]
        assert len(bases) == len(set(bases)), names

        first = f"before the restart {uuid.uuid4().hex[:6]}"
        send_text(synapse, bob, room, first)
        expect(page.locator("#timeline")).to_contain_text(first)

        # The process holding the page's socket restarts.
        viewers = [
            metrics_of(backend)['webclient_open_viewers{kind="page"}']
            for backend in deployment.backends
        ]
        assert sorted(viewers) == [0, 1], viewers
        holder = viewers.index(1)
        other = 1 - holder
        process = deployment.processes[holder]
        os.kill(process.pid, signal.SIGTERM)
        assert process.wait(15) == 0

        wait_for(lambda: 1012 in page.evaluate("window.__closeCodes"), timeout=10)
        expect(page.locator("#room")).to_have_attribute("data-live", "true", timeout=20000)
        figures = metrics_of(deployment.backends[other])
        assert figures['webclient_open_viewers{kind="page"}'] == 1
        second = f"after the restart {uuid.uuid4().hex[:6]}"
        send_text(synapse, bob, room, second)
        expect(page.locator("#timeline")).to_contain_text(second)
        assert page.evaluate("window.__closeCodes") == [1012]
    finally:
        context.close()
