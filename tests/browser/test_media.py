"""Files in real Chromium: picking, dropping, the homeserver's limit, and files that must not
run script on our origin. The homeserver is real Synapse; what was sent is checked there."""

from __future__ import annotations

import base64
import io
import json
import time
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import Page, expect

from tests.server import start_webclient, stop_webclient
from webclient.demo.homeserver import LocalSynapse, RegisteredUser
from webclient.matrix import media

from .helpers import (
    event_tile,
    login_with_password,
    messages_from,
    open_room,
    q,
    shared_room,
    wait_for_message,
)

CS = "/_matrix/client/v3"
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))
MIB = 1024 * 1024

HTML_FILE = (
    b"<!doctype html><html><head><title>innocent</title></head><body>"
    b"<script>document.title='pwned';alert('xss');"
    b"fetch('/rooms/').then(r=>r.text()).then(t=>{window.stolen=t;alert('stolen')})"
    b"</script></body></html>"
)
SVG_FILE = (
    b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10">'
    b"<script>alert('svg')</script><rect width='10' height='10'/></svg>"
)


def image_bytes(width: int, height: int, fmt: str = "PNG") -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (250, 120, 20)).save(out, fmt)
    return out.getvalue()


def upload_raw(hs: LocalSynapse, token: str, data: bytes, content_type: str, name: str) -> str:
    request = urllib.request.Request(  # noqa: S310 - loopback http
        f"{hs.url}/_matrix/media/v3/upload?filename={q(name)}",
        data=data,
        method="POST",
        headers={"Content-Type": content_type, "Authorization": f"Bearer {token}"},
    )
    with _OPENER.open(request, timeout=60) as response:
        return json.load(response)["content_uri"]


def send_content(hs: LocalSynapse, user: RegisteredUser, room_id: str, content: dict) -> str:
    from tests.synapse_fixtures import matrix_api

    path = f"{CS}/rooms/{q(room_id)}/send/m.room.message/{uuid.uuid4().hex}"
    return matrix_api(hs.url, user.access_token, "PUT", path, content)["event_id"]


def download_raw(hs: LocalSynapse, token: str, mxc: str) -> bytes:
    parsed = media.parse_mxc(mxc)
    assert parsed is not None, mxc
    request = urllib.request.Request(  # noqa: S310 - loopback http
        f"{hs.url}/_matrix/client/v1/media/download/{parsed.server_name}/{parsed.media_id}",
        headers={"Authorization": f"Bearer {token}"},
    )
    with _OPENER.open(request, timeout=60) as response:
        return response.read()


@dataclass
class Chat:
    me: RegisteredUser
    other: RegisteredUser
    room_id: str


@pytest.fixture
def chat(synapse, make_user) -> Chat:
    other = make_user("other", displayname="Otto")
    me = make_user("me", displayname="Mia")
    return Chat(me, other, shared_room(synapse, other, me))


def record_upload_echoes(page: Page) -> None:
    """Remember each upload echo as it is added (it may be replaced within milliseconds)."""
    page.evaluate(
        """() => {
          window.__uploads = [];
          new MutationObserver((records) => {
            for (const r of records) for (const n of r.addedNodes) {
              if (n.nodeType === 1 && n.matches('article.event.pending.upload')) {
                const bar = n.querySelector('progress.upload-progress');
                window.__uploads.push({txn: n.dataset.txnId, progress: !!bar,
                                       max: bar ? bar.max : null,
                                       text: n.querySelector('.event-body').textContent});
              }
            }
          }).observe(document.getElementById('timeline'), {childList: true});
        }"""
    )


def record_requests(page: Page) -> list[tuple[str, str]]:
    seen: list[tuple[str, str]] = []
    page.on("request", lambda request: seen.append((request.method, request.url)))
    return seen


def assert_image_loaded(page: Page, img, base: str) -> str:
    expect(img).to_be_visible()
    img.scroll_into_view_if_needed()
    src = img.evaluate("el => el.src")
    assert src.startswith(base + "/media/"), src
    page.wait_for_function("el => el.complete && el.naturalWidth > 0", arg=img.element_handle())
    assert img.evaluate("el => el.naturalWidth") > 0
    link = img.locator("xpath=ancestor::a[1]")
    href = link.evaluate("el => el.href")
    assert href.startswith(base + "/media/"), href
    return src


# -- picking a file --------------------------------------------------------------------------


def test_pick_an_image_shows_progress_then_the_image(page: Page, webclient_server, synapse, chat):
    base = webclient_server.url
    login_with_password(page, base, synapse, chat.me)
    open_room(page, base, chat.room_id)
    expect(page.locator("form#composer")).to_have_attribute("data-upload-limit", str(50 * MIB))
    record_upload_echoes(page)
    png = image_bytes(800, 600)
    page.set_input_files(
        "#composer-file", files=[{"name": "sunset.png", "mimeType": "image/png", "buffer": png}]
    )

    event = wait_for_message(
        synapse, chat.other, chat.room_id, lambda e: e["content"].get("body") == "sunset.png"
    )
    content = event["content"]
    assert event["sender"] == chat.me.user_id
    assert content["msgtype"] == "m.image"
    assert content["info"] == {
        "mimetype": "image/png",
        "size": len(png),
        "w": 800,
        "h": 600,
        "is_animated": False,
    }
    assert download_raw(synapse, chat.other.access_token, content["url"]) == png

    # The echo had a progress bar, and was replaced by the real tile in place.
    uploads = page.evaluate("window.__uploads")
    assert len(uploads) == 1, uploads
    assert uploads[0]["progress"] and uploads[0]["max"] == 100
    assert uploads[0]["text"].startswith("sunset.png (")
    tile = event_tile(page, event["event_id"])
    expect(tile).to_have_count(1)
    expect(page.locator("#timeline .event.pending")).to_have_count(0)
    expect(page.locator(f'#timeline [data-txn-id="{uploads[0]["txn"]}"]')).to_have_count(0)
    src = assert_image_loaded(page, tile.locator("img"), base)
    assert "/thumbnail/" in src  # 800x600 is shown as the homeserver's thumbnail
    assert "mxc://" not in page.content()


# -- dropping a file -------------------------------------------------------------------------


def drop_files(page: Page, files: list[dict[str, Any]], target: str = "#room") -> None:
    """Dispatch a real `drop` event carrying Files, as a drag from the desktop does."""
    page.evaluate(
        """([files, target]) => {
          const dt = new DataTransfer();
          for (const f of files) {
            const bytes = Uint8Array.from(atob(f.data), c => c.charCodeAt(0));
            dt.items.add(new File([bytes], f.name, {type: f.type}));
          }
          const el = document.querySelector(target);
          const init = {dataTransfer: dt, bubbles: true, cancelable: true};
          el.dispatchEvent(new DragEvent('dragover', init));
          el.dispatchEvent(new DragEvent('drop', init));
        }""",
        [
            [
                {"name": f["name"], "type": f["type"], "data": base64.b64encode(f["data"]).decode()}
                for f in files
            ],
            target,
        ],
    )


def test_drop_files_uploads_them(page: Page, webclient_server, synapse, chat):
    base = webclient_server.url
    login_with_password(page, base, synapse, chat.me)
    open_room(page, base, chat.room_id)
    record_upload_echoes(page)
    gif = image_bytes(40, 30, "GIF")
    text = b"plain text file\n" * 50
    drop_files(
        page,
        [
            {"name": "dropped.gif", "type": "image/gif", "data": gif},
            {"name": "notes.txt", "type": "text/plain", "data": text},
        ],
    )
    image = wait_for_message(
        synapse, chat.other, chat.room_id, lambda e: e["content"].get("body") == "dropped.gif"
    )
    note = wait_for_message(
        synapse, chat.other, chat.room_id, lambda e: e["content"].get("body") == "notes.txt"
    )
    assert image["content"]["msgtype"] == "m.image"
    assert (image["content"]["info"]["w"], image["content"]["info"]["h"]) == (40, 30)
    assert image["content"]["info"]["is_animated"] is False
    assert note["content"]["msgtype"] == "m.file"
    assert note["content"]["info"] == {"mimetype": "text/plain", "size": len(text)}
    assert download_raw(synapse, chat.other.access_token, note["content"]["url"]) == text
    assert len(page.evaluate("window.__uploads")) == 2
    expect(page.locator("#room")).not_to_have_class("dropping")

    src = assert_image_loaded(page, event_tile(page, image["event_id"]).locator("img"), base)
    assert "/thumbnail/" not in src  # a small GIF is shown as it is
    link = event_tile(page, note["event_id"]).locator("a.file-download")
    expect(link).to_have_text("notes.txt")
    assert link.evaluate("el => el.href").startswith(base + "/media/")
    expect(page.locator("#timeline .event.pending")).to_have_count(0)


# -- the homeserver's limit ------------------------------------------------------------------


class SmallLimitSynapse(LocalSynapse):
    """A homeserver that accepts uploads of at most 1 MiB."""

    def build_config(self) -> dict[str, Any]:
        config = super().build_config()
        config["max_upload_size"] = "1M"
        return config


@pytest.fixture(scope="module")
def small_limit(tmp_path_factory):
    hs = SmallLimitSynapse(Path(tmp_path_factory.mktemp("synapse-small")))
    with hs:
        server = start_webclient(tmp_path_factory.mktemp("webclient-small"), hs.url)
        try:
            yield hs, server
        finally:
            stop_webclient(server)


def test_file_over_the_limit_is_refused_at_once(page: Page, small_limit):
    hs, server = small_limit
    base = server.url
    other = hs.register(f"other-{uuid.uuid4().hex[:8]}", "pw-other")
    me = hs.register(f"me-{uuid.uuid4().hex[:8]}", "pw-me")
    room_id = shared_room(hs, other, me)
    login_with_password(page, base, hs, me)
    open_room(page, base, room_id)
    expect(page.locator("form#composer")).to_have_attribute("data-upload-limit", str(MIB))
    expect(page.locator(".upload-hint")).to_contain_text("1.0")
    requests = record_requests(page)
    record_upload_echoes(page)

    started = time.monotonic()
    page.set_input_files(
        "#composer-file",
        files=[{"name": "huge.zip", "mimeType": "application/zip", "buffer": b"\0" * (MIB + 1)}],
    )
    failed = page.locator("#timeline article.event.pending.upload.failed")
    expect(failed).to_have_count(1, timeout=2000)
    assert time.monotonic() - started < 2
    state = failed.locator(".send-state")
    expect(state).to_contain_text("the homeserver accepts files up to 1.0 MB")
    expect(state).to_have_attribute("role", "alert")
    expect(failed.locator("button.retry")).to_have_count(0)  # retrying cannot help
    expect(failed.locator("progress")).to_have_count(0)

    page.wait_for_timeout(1000)
    send_url = f"/rooms/{q(room_id)}/send/"
    assert not [r for r in requests if "/send/" in r[1] or send_url in r[1]], requests
    assert hs.count_requests("/_matrix/media/v3/upload") == 0
    assert messages_from(hs, other, room_id, me.user_id) == []

    # Delete removes the failed echo; a file within the limit still goes.
    failed.locator("button.discard").click()
    expect(page.locator("#timeline article.event.pending")).to_have_count(0)
    page.set_input_files(
        "#composer-file",
        files=[{"name": "small.bin", "mimeType": "application/octet-stream", "buffer": b"1" * 999}],
    )
    wait_for_message(hs, other, room_id, lambda e: e["content"].get("body") == "small.bin")


# -- files that must not run script here -----------------------------------------------------


def test_opening_an_uploaded_html_file_runs_no_script(page: Page, webclient_server, synapse, chat):
    base = webclient_server.url
    html_mxc = upload_raw(synapse, chat.other.access_token, HTML_FILE, "text/html", "page.html")
    svg_mxc = upload_raw(synapse, chat.other.access_token, SVG_FILE, "image/svg+xml", "d.svg")
    html_event = send_content(
        synapse,
        chat.other,
        chat.room_id,
        {
            "msgtype": "m.file",
            "body": "page.html",
            "url": html_mxc,
            "info": {"mimetype": "text/html"},
        },
    )
    svg_event = send_content(
        synapse,
        chat.other,
        chat.room_id,
        {
            "msgtype": "m.image",
            "body": "d.svg",
            "url": svg_mxc,
            "info": {"mimetype": "image/svg+xml", "w": 10, "h": 10},
        },
    )
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    login_with_password(page, base, synapse, chat.me)
    open_room(page, base, chat.room_id)

    # The SVG in its tile is an <img>: script in an image never runs.
    expect(event_tile(page, svg_event).locator("img")).to_have_count(1)
    html_link = event_tile(page, html_event).locator("a.file-download")
    html_url = html_link.evaluate("el => el.href")
    assert html_url.startswith(base + "/media/"), html_url
    svg_url = base + media.download_url(svg_mxc)

    for url, data, name in ((html_url, HTML_FILE, "page.html"), (svg_url, SVG_FILE, "d.svg")):
        viewer = page.context.new_page()
        viewer.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
        downloads: list = []
        viewer.on("download", lambda download, seen=downloads: seen.append(download))
        try:
            try:
                viewer.goto(url)
            except PlaywrightError as exc:  # the navigation turned into a download
                assert "Download is starting" in str(exc) or "ERR_ABORTED" in str(exc), exc
            viewer.wait_for_timeout(500)
            assert dialogs == [], f"script ran from {url}"
            assert viewer.evaluate("document.title") != "pwned"
            # It was offered as a file to save, not shown.
            assert len(downloads) == 1, url
            assert downloads[0].suggested_filename == name
            assert Path(downloads[0].path()).read_bytes() == data
        finally:
            viewer.close()

    # Even shown in a frame of our own origin, the sandbox keeps its script from running.
    page.evaluate(
        """(url) => new Promise((done) => {
             const frame = document.createElement('iframe');
             frame.src = url;
             frame.onload = () => done();
             document.body.appendChild(frame);
             setTimeout(done, 3000);
           })""",
        html_url,
    )
    page.wait_for_timeout(500)
    assert dialogs == []
    assert page.evaluate("window.stolen") is None
    assert page.title() != "pwned"


def test_uploaded_script_and_style_cannot_be_loaded_by_our_pages(
    page: Page, webclient_server, synapse, chat
):
    """Our pages allow script from 'self', and the media proxy is 'self': if markup ever got
    past the sanitiser, a `<script src="/media/…">` must still not run an uploaded file."""
    base = webclient_server.url
    token = chat.other.access_token
    js = b"window.__pwned = (window.__pwned || 0) + 1;"
    css = b"body { background: rgb(1, 2, 3) !important; }"
    scripts = [
        base + media.download_url(upload_raw(synapse, token, js, ctype, "x.js"))
        for ctype in ("text/javascript", "application/javascript", "image/png")
    ]
    style = base + media.download_url(upload_raw(synapse, token, css, "text/css", "x.css"))
    login_with_password(page, base, synapse, chat.me)
    open_room(page, base, chat.room_id)
    for url in scripts:
        outcome = page.evaluate(
            """(url) => new Promise((done) => {
                 const s = document.createElement('script');
                 s.src = url;
                 s.onload = () => done('loaded');
                 s.onerror = () => done('refused');
                 document.head.appendChild(s);
               })""",
            url,
        )
        assert outcome == "refused", url
    outcome = page.evaluate(
        """(url) => new Promise((done) => {
             const l = document.createElement('link');
             l.rel = 'stylesheet';
             l.href = url;
             l.onload = () => done('loaded');
             l.onerror = () => done('refused');
             document.head.appendChild(l);
           })""",
        style,
    )
    assert page.evaluate("window.__pwned") is None
    assert page.evaluate("getComputedStyle(document.body).backgroundColor") != "rgb(1, 2, 3)"
    assert outcome == "refused"
