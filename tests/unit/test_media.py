"""Media without a homeserver: mxc parsing (webclient.matrix.media), the content of an uploaded
file's message (webclient.web.uploads.message_for_file) and the tiles of media messages
(webclient.timeline.messages through the view models and templates).

Events are written by strangers, so most of these check that a crafted value never reaches a
URL of ours, and that a tile never carries an mxc URI or someone else's http URL.
"""

from __future__ import annotations

import io
import re

import pytest
from django.core.cache import cache
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

from webclient.matrix import media
from webclient.timeline import viewmodels
from webclient.timeline.render import render_event_uncached
from webclient.web.uploads import message_for_file, too_large_message

BOB = "@bob:example.org"
MEMBERS = {BOB: {"displayname": "Bob", "membership": "join"}}
MXC = "mxc://example.org/AbC_12-x"
PROXY = "/media/example.org/AbC_12-x/"


@pytest.fixture(autouse=True)
def _fresh_cache():
    cache.clear()
    yield
    cache.clear()


# -- parse_mxc / valid_parts -----------------------------------------------------------------

VALID = [
    ("mxc://matrix.org/AbC_12-x", "matrix.org", "AbC_12-x"),
    ("mxc://localhost:8448/x", "localhost:8448", "x"),
    ("mxc://[::1]:8448/x", "[::1]:8448", "x"),
    ("mxc://[2001:db8::1]/media", "[2001:db8::1]", "media"),
    ("mxc://127.0.0.1/abc", "127.0.0.1", "abc"),
    ("mxc://my-server.example.com/" + "a" * 255, "my-server.example.com", "a" * 255),
    ("mxc://a-/b", "a-", "b"),  # the grammar allows a trailing hyphen in a label
]

CRAFTED = [
    "mxc://evil/../../x",
    "mxc://evil/..",
    "mxc://a/b/c",
    "mxc://a%2F..%2F/x",
    "mxc://a/b%2F..",
    "mxc://a?x=1/b",
    "mxc://a/b?x=1",
    "mxc://a#b/c",
    "mxc://a/b#c",
    "mxc://host/id%2F",
    "mxc://host/id%00",
    "mxc://a\\b/c",
    "mxc://a/b\\c",
    "mxc://a/..\\..\\c",
    "mxc://exämple.org/x",
    "mxc://example.org/ïd",
    "mxc://example.org/id\u202e",
    "mxc://xn--.org/x\u0000",
    "mxc:///x",
    "mxc://a/",
    "mxc://",
    "mxc:/a/b",
    "mxc:a/b",
    "MXC://a/b",
    " mxc://a/b",
    "mxc://a/b ",
    "mxc://a b/c",
    "mxc://a/b\n",  # `$` in a regex would let this one through
    "mxc://a\n/b",
    "mxc://a/b\r\n",
    "mxc://a/b\t",
    "http://example.org/x.png",
    "https://example.org/_matrix/media/v3/download/example.org/x",
    "javascript:alert(1)",
    "mxc://a..b/c",
    "mxc://.a/c",
    "mxc://a./c",
    "mxc://a.b./c",
    "mxc://-a/c",
    "mxc://a:/c",
    "mxc://a:123456/c",
    "mxc://a:port/c",
    "mxc://user@a/c",
    "mxc://[::1/c",
    "mxc://[evil]/c",
    "mxc://[]/c",
    "mxc://" + "a" * 64 + "/c",  # a label longer than 63
    "mxc://" + ".".join(["a"] * 200) + "/c",  # a name longer than 255
    "mxc://a/" + "b" * 256,
    "mxc://a/" + "b" * 100_000,
    "",
]


@pytest.mark.parametrize(("uri", "server", "media_id"), VALID)
def test_parse_mxc_accepts_real_uris(uri, server, media_id):
    parsed = media.parse_mxc(uri)
    assert parsed == media.MxcUri(server, media_id)
    assert str(parsed) == uri
    assert media.valid_parts(server, media_id)


@pytest.mark.parametrize("uri", CRAFTED, ids=lambda v: repr(v[:40]))
def test_parse_mxc_refuses_crafted_uris(uri):
    assert media.parse_mxc(uri) is None
    assert media.download_url(uri) is None
    assert media.download_url(uri, "name.png") is None
    assert media.thumbnail_url(uri, 320, 240) is None


@pytest.mark.parametrize("value", [None, 42, b"mxc://a/b", ["mxc://a/b"], {"url": "mxc://a/b"}])
def test_parse_mxc_refuses_non_strings(value):
    assert media.parse_mxc(value) is None
    assert media.download_url(value) is None


@pytest.mark.parametrize(
    ("server", "media_id"),
    [
        ("a", "b/c"),
        ("a/b", "c"),
        ("..", "x"),
        ("a", ".."),
        ("a", ""),
        ("", "b"),
        ("a", "b\n"),
        ("a\n", "b"),
        ("a", "%2e%2e"),
        ("a%2F..", "b"),
        ("a", "b c"),
        (None, "b"),
        ("a", None),
    ],
)
def test_valid_parts_refuses_what_the_url_router_lets_through(server, media_id):
    assert not media.valid_parts(server, media_id)


# -- our URLs --------------------------------------------------------------------------------


def test_download_url_of_valid_uris_is_ours():
    assert media.download_url(MXC) == PROXY
    assert media.download_url("mxc://localhost:8448/x") == "/media/localhost:8448/x/"
    # The brackets of an IPv6 literal are quoted in the path; the view gets them back.
    assert media.download_url("mxc://[::1]:8448/x") == "/media/%5B::1%5D:8448/x/"


def test_download_url_carries_a_quoted_filename():
    url = media.download_url(MXC, 'a b&c"<x>/../é.png')
    assert url.startswith(PROXY + "?filename=")
    query = url.split("?", 1)[1]
    assert re.fullmatch(r"filename=[A-Za-z0-9%._~-]+", query), query
    assert media.download_url(MXC, "") == PROXY
    assert len(media.download_url(MXC, "x" * 5000)) < len(PROXY) + 300


def test_thumbnail_url_of_valid_uris():
    assert media.thumbnail_url(MXC, 320, 240) == (
        PROXY + "thumbnail/?width=320&height=240&method=scale"
    )
    assert media.thumbnail_url(MXC, 96, 96, "crop").endswith("width=96&height=96&method=crop")


def test_resolved_urls_reach_the_media_views():
    from django.urls import resolve

    match = resolve(
        media.download_url("mxc://[::1]:8448/x").replace("%5B", "[").replace("%5D", "]")
    )
    assert match.view_name == "media:download"
    assert match.kwargs == {"server_name": "[::1]:8448", "media_id": "x"}
    match = resolve(media.thumbnail_url(MXC, 1, 1).split("?")[0])
    assert match.view_name == "media:thumbnail"


# -- safe_filename / is_inline ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("photo.png", "photo.png"),
        ("../../etc/passwd", "passwd"),
        ("..\\..\\windows\\evil.exe", "evil.exe"),
        ("/abs/path/x.txt", "x.txt"),
        ('a"b.txt', "ab.txt"),
        ("a;b.txt", "ab.txt"),
        ("a\r\nSet-Cookie: x=1.txt", "aSet-Cookie: x=1.txt"),
        ("a\x00b\x7f.txt", "ab.txt"),
        ("invoice\u202egnp.exe", "invoicegnp.exe"),  # no right-to-left override
        ("  spaced.txt  ", "spaced.txt"),
        ("Ünïcödé 写真.jpg", "Ünïcödé 写真.jpg"),
        ("", "download"),
        ("../", "download"),
        ('"\r\n;', "download"),
    ],
)
def test_safe_filename(name, expected):
    assert media.safe_filename(name) == expected


def test_safe_filename_is_bounded():
    assert len(media.safe_filename("x" * 10_000 + ".txt")) <= 200


@pytest.mark.parametrize(
    "content_type",
    ["image/png", "IMAGE/PNG", "image/jpeg", "image/gif", "image/webp", "image/png; charset=x"]
    + ["audio/mpeg", "audio/ogg", "video/mp4", "video/webm"],
)
def test_is_inline_for_plain_media(content_type):
    assert media.is_inline(content_type)


@pytest.mark.parametrize(
    "content_type",
    [
        "image/svg+xml",
        "IMAGE/SVG+XML; charset=utf-8",
        "text/html",
        "text/html; charset=utf-8",
        "application/xhtml+xml",
        "text/xml",
        "application/xml",
        "text/javascript",
        "application/javascript",
        "application/pdf",
        "text/plain",
        "application/octet-stream",
        "multipart/x-mixed-replace",
        "",
        "image/png, text/html",
    ],
)
def test_is_inline_refuses_scriptable_and_unknown_types(content_type):
    assert not media.is_inline(content_type)


def test_media_csp_sandboxes_and_forbids_script():
    directives = {d.strip().split(" ")[0]: d.strip() for d in media.MEDIA_CSP.split(";") if d}
    assert directives["sandbox"] == "sandbox"
    assert directives["default-src"] == "default-src 'none'"
    assert directives["script-src"] == "script-src 'none'"


# -- message_for_file ------------------------------------------------------------------------


def png_bytes(width: int, height: int, fmt: str = "PNG") -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (200, 30, 30)).save(out, fmt)
    return out.getvalue()


def test_message_for_file_image_has_pillow_dimensions():
    data = png_bytes(123, 45)
    uploaded = SimpleUploadedFile("cat.png", data, content_type="image/png")
    content = message_for_file(uploaded, MXC)
    assert content == {
        "msgtype": "m.image",
        "body": "cat.png",
        "url": MXC,
        "info": {
            "mimetype": "image/png",
            "size": len(data),
            "w": 123,
            "h": 45,
            "is_animated": False,
        },
    }
    # Measuring the image leaves the file at its start, ready to be uploaded.
    assert uploaded.tell() == 0
    assert uploaded.read() == data


def test_message_for_file_gif_and_jpeg_dimensions():
    gif = SimpleUploadedFile("a.gif", png_bytes(7, 9, "GIF"), content_type="image/gif")
    assert message_for_file(gif, MXC)["info"] == {
        "mimetype": "image/gif",
        "size": gif.size,
        "w": 7,
        "h": 9,
        "is_animated": False,
    }
    jpeg = SimpleUploadedFile("a.jpg", png_bytes(640, 480, "JPEG"), content_type="image/jpeg")
    info = message_for_file(jpeg, MXC)["info"]
    assert (info["w"], info["h"]) == (640, 480)


def test_message_for_file_says_an_animated_gif_is_animated():
    out = io.BytesIO()
    frames = [Image.new("RGB", (8, 8), colour) for colour in ((255, 0, 0), (0, 0, 255))]
    frames[0].save(out, "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    gif = SimpleUploadedFile("moving.gif", out.getvalue(), content_type="image/gif")
    assert message_for_file(gif, MXC)["info"]["is_animated"] is True


def test_message_for_file_broken_image_has_no_dimensions():
    uploaded = SimpleUploadedFile("fake.png", b"not an image at all", content_type="image/png")
    content = message_for_file(uploaded, MXC)
    assert content["msgtype"] == "m.image"
    assert content["info"] == {"mimetype": "image/png", "size": 19}


def test_message_for_file_mimetype_parameters_are_dropped():
    uploaded = SimpleUploadedFile("a.png", png_bytes(2, 2), content_type="image/png; foo=bar")
    assert message_for_file(uploaded, MXC)["info"]["mimetype"] == "image/png"


@pytest.mark.parametrize(
    ("name", "content_type", "msgtype"),
    [
        ("clip.mp4", "video/mp4", "m.video"),
        ("clip.webm", "video/webm", "m.video"),
        ("song.mp3", "audio/mpeg", "m.audio"),
        ("voice.ogg", "audio/ogg", "m.audio"),
        ("report.pdf", "application/pdf", "m.file"),
        ("page.html", "text/html", "m.file"),
        ("notes.txt", "text/plain", "m.file"),
        ("blob", "application/octet-stream", "m.file"),
    ],
)
def test_message_for_file_msgtype_by_mimetype(name, content_type, msgtype):
    uploaded = SimpleUploadedFile(name, b"\x00" * 1000, content_type=content_type)
    content = message_for_file(uploaded, MXC)
    assert content == {
        "msgtype": msgtype,
        "body": name,
        "url": MXC,
        "info": {"mimetype": content_type, "size": 1000},
    }


def test_message_for_file_without_a_type_is_a_file():
    uploaded = SimpleUploadedFile("mystery", b"abc", content_type=None)
    uploaded.content_type = None
    content = message_for_file(uploaded, MXC)
    assert content["msgtype"] == "m.file"
    assert content["info"]["mimetype"] == "application/octet-stream"


def test_message_for_file_caption_plain():
    uploaded = SimpleUploadedFile("cat.png", png_bytes(4, 4), content_type="image/png")
    content = message_for_file(uploaded, MXC, caption="  my cat  ")
    # Spec v1.10: `filename` differing from `body` makes `body` the caption.
    assert content["body"] == "my cat"
    assert content["filename"] == "cat.png"
    assert "format" not in content and "formatted_body" not in content
    assert content["info"]["w"] == 4


def test_message_for_file_caption_markdown_gets_formatted_body():
    uploaded = SimpleUploadedFile("doc.pdf", b"%PDF", content_type="application/pdf")
    content = message_for_file(uploaded, MXC, caption="**bold** <script>x</script>")
    assert content["body"] == "**bold** <script>x</script>"
    assert content["filename"] == "doc.pdf"
    assert content["format"] == "org.matrix.custom.html"
    assert "<strong>bold</strong>" in content["formatted_body"]
    assert "<script" not in content["formatted_body"]


def test_message_for_file_blank_caption_is_no_caption():
    uploaded = SimpleUploadedFile("doc.pdf", b"%PDF", content_type="application/pdf")
    content = message_for_file(uploaded, MXC, caption=" \n\t ")
    assert content["body"] == "doc.pdf"
    assert "filename" not in content


def test_too_large_message_names_both_sizes():
    text = too_large_message(3 * 1024 * 1024, 1024 * 1024)
    assert "3.0\xa0MB" in text and "1.0\xa0MB" in text


# -- tiles -----------------------------------------------------------------------------------


def media_event(content, *, event_type="m.room.message", event_id="$media"):
    return {
        "event_id": event_id,
        "sender": BOB,
        "type": event_type,
        "origin_server_ts": 1_700_000_000_000,
        "content": content,
    }


def tile(content, **kwargs) -> tuple[viewmodels.EventView, str]:
    event = media_event(content, **kwargs)
    view = viewmodels.build(event, MEMBERS)
    return view, render_event_uncached(event, MEMBERS)


def attr_values(html: str, name: str) -> list[str]:
    return re.findall(rf'\b{name}="([^"]*)"', html)


def assert_no_foreign_urls(html: str) -> None:
    """Every src/href/poster of a tile is ours (or a geo:/OSM link we built)."""
    assert "mxc://" not in html
    for name in ("src", "href", "poster"):
        for value in attr_values(html, name):
            value = value.replace("&amp;", "&")
            assert value.startswith("/media/") or value.startswith(
                ("geo:", "https://www.openstreetmap.org/")
            ), (name, value)
    assert "evil.example" not in html


EVIL_INFO = {
    "thumbnail_url": "https://evil.example/t.png",
    "thumbnail_file": {"url": "https://evil.example/enc"},
}


def test_image_tile_small_image_is_shown_whole():
    content = {
        "msgtype": "m.image",
        "body": "cat.png",
        "url": MXC,
        "info": {"mimetype": "image/png", "size": 1234, "w": 200, "h": 100, **EVIL_INFO},
    }
    view, html = tile(content)
    assert view.template == "events/message_image.html"
    assert view.extra["src"] == PROXY
    assert view.extra["url"] == PROXY + "?filename=cat.png"
    assert 'class="media media-image"' in html
    assert f'src="{PROXY}"' in html
    assert 'width="200" height="100"' in html
    assert 'alt="cat.png"' in html
    assert_no_foreign_urls(html)


def test_image_tile_large_image_uses_a_thumbnail():
    content = {
        "msgtype": "m.image",
        "body": "big.jpg",
        "url": MXC,
        "info": {"mimetype": "image/jpeg", "w": 4000, "h": 3000},
    }
    view, html = tile(content)
    assert view.extra["src"] == PROXY + "thumbnail/?width=640&height=480&method=scale"
    assert (view.extra["width"], view.extra["height"]) == (640, 480)
    assert f'href="{PROXY}?filename=big.jpg"' in html
    assert_no_foreign_urls(html)


def test_image_tile_without_dimensions_and_animated_gif():
    view, html = tile({"msgtype": "m.image", "body": "x.png", "url": MXC})
    assert view.extra["src"] == PROXY + "thumbnail/?width=640&height=480&method=scale"
    assert view.extra["width"] is None
    assert ' width="' not in html
    view, _ = tile(
        {
            "msgtype": "m.image",
            "body": "a.gif",
            "url": MXC,
            "info": {"mimetype": "image/gif", "w": 2000, "h": 2000},
        }
    )
    # Issue 13: an animated image shows a still thumbnail and animates on hover (or when
    # the viewer allows it), from `animated_src`.
    assert view.extra["src"] == PROXY + "thumbnail/?width=640&height=480&method=scale"
    assert view.extra["animated_src"] == PROXY


@pytest.mark.parametrize("bad", [-5, 0, "100", 1.5, True, None, [1]])
def test_image_tile_ignores_bogus_sizes(bad):
    view, html = tile(
        {"msgtype": "m.image", "body": "x", "url": MXC, "info": {"w": bad, "h": bad, "size": bad}}
    )
    assert view.extra["width"] is None and view.extra["size"] is None
    assert_no_foreign_urls(html)


def test_file_tile():
    content = {
        "msgtype": "m.file",
        "body": "report.pdf",
        "url": MXC,
        "info": {"mimetype": "application/pdf", "size": 2 * 1024 * 1024, **EVIL_INFO},
    }
    view, html = tile(content)
    assert view.template == "events/message_file.html"
    assert 'class="media media-file"' in html
    assert f'href="{PROXY}?filename=report.pdf"' in html
    assert 'download="report.pdf"' in html
    assert '<span class="file-name">report.pdf</span>' in html
    assert "2.0\xa0MB" in html
    assert_no_foreign_urls(html)


def test_file_tile_escapes_a_hostile_name():
    name = '"><script>alert(1)</script>.txt'
    _, html = tile({"msgtype": "m.file", "body": name, "url": MXC})
    assert "<script>" not in html
    assert "&lt;script&gt;" in html
    assert_no_foreign_urls(html)


def test_audio_tile():
    content = {
        "msgtype": "m.audio",
        "body": "song.mp3",
        "url": MXC,
        "info": {"mimetype": "audio/mpeg", "size": 5000, "duration": 1000, **EVIL_INFO},
    }
    view, html = tile(content)
    assert view.template == "events/message_audio.html"
    assert "<audio controls" in html
    assert f'src="{PROXY}?filename=song.mp3"' in html
    assert_no_foreign_urls(html)


def test_video_tile_with_poster():
    content = {
        "msgtype": "m.video",
        "body": "clip.mp4",
        "url": MXC,
        "info": {
            "mimetype": "video/mp4",
            "w": 1920,
            "h": 1080,
            "thumbnail_url": "mxc://example.org/thumb1",
        },
    }
    view, html = tile(content)
    assert view.template == "events/message_video.html"
    assert "<video controls" in html
    assert f'src="{PROXY}?filename=clip.mp4"' in html
    assert 'poster="/media/example.org/thumb1/thumbnail/?width=640&amp;height=480' in html
    assert 'width="640" height="360"' in html
    assert_no_foreign_urls(html)


@pytest.mark.parametrize(
    "thumb", ["https://evil.example/t.png", "mxc://evil/../../x", "javascript:alert(1)", 5]
)
def test_video_tile_with_a_foreign_poster_has_none(thumb):
    content = {"msgtype": "m.video", "body": "v.mp4", "url": MXC, "info": {"thumbnail_url": thumb}}
    view, html = tile(content)
    assert view.extra["poster"] == ""
    assert "poster=" not in html
    assert_no_foreign_urls(html)


def test_sticker_tile():
    content = {"body": "wave", "url": MXC, "info": {"w": 512, "h": 512, "mimetype": "image/png"}}
    view, html = tile(content, event_type="m.sticker")
    assert view.template == "events/sticker.html"
    assert 'class="sticker-image"' in html
    assert f'src="{PROXY}thumbnail/?width=256&amp;height=256&amp;method=scale"' in html
    assert 'width="256" height="256"' in html
    assert_no_foreign_urls(html)


def test_location_tile():
    content = {"msgtype": "m.location", "body": "Big Ben", "geo_uri": "geo:51.5007,-0.1246;u=35"}
    view, html = tile(content)
    assert view.template == "events/message_location.html"
    assert "Big Ben" in html
    assert 'href="geo:51.5007,-0.1246;u=35"' in html
    assert "https://www.openstreetmap.org/?mlat=51.5007&amp;mlon=-0.1246" in html
    assert_no_foreign_urls(html)


@pytest.mark.parametrize(
    "geo", ["javascript:alert(1)", "https://evil.example/", "geo:abc", "", None, "geo:999,1"]
)
def test_location_tile_with_a_bad_geo_uri_falls_back(geo):
    view, html = tile({"msgtype": "m.location", "body": "somewhere", "geo_uri": geo})
    assert view.template == "events/message_fallback.html"
    assert "somewhere" in html
    assert "evil.example" not in html and "javascript:" not in html


CRAFTED_URLS = [
    "mxc://evil/../../x",
    "mxc://a/b/c",
    "mxc://a%2F..%2F/x",
    "mxc://host/id%2F",
    "mxc://a/b\n",
    "https://evil.example/x.png",
    "http://evil.example/x.png",
    "javascript:alert(1)",
    "//evil.example/x",
    "/media/other/x/",
    "",
    None,
    42,
    {"url": "mxc://a/b"},
]


@pytest.mark.parametrize("msgtype", ["m.image", "m.file", "m.audio", "m.video"])
@pytest.mark.parametrize("url", CRAFTED_URLS, ids=repr)
def test_crafted_url_falls_back_to_the_body(msgtype, url):
    content = {"msgtype": msgtype, "body": "the <b>body</b>", "url": url, "info": EVIL_INFO}
    view, html = tile(content)
    assert view.template == "events/message_fallback.html"
    assert "the &lt;b&gt;body&lt;/b&gt;" in html
    assert "<img" not in html and "<audio" not in html and "<video" not in html
    assert "href=" not in html and "src=" not in html
    assert "evil.example" not in html and "mxc://" not in html


@pytest.mark.parametrize("url", CRAFTED_URLS[:8], ids=repr)
def test_crafted_sticker_falls_back_to_the_body(url):
    view, html = tile({"body": "a sticker", "url": url}, event_type="m.sticker")
    assert view.template == "events/message_fallback.html"
    assert "a sticker" in html
    assert "<img" not in html and "evil.example" not in html and "mxc://" not in html


@pytest.mark.parametrize("msgtype", ["m.image", "m.file", "m.audio", "m.video"])
def test_encrypted_attachment_shows_the_placeholder(msgtype):
    content = {
        "msgtype": msgtype,
        "body": "secret.png",
        "file": {
            "url": "mxc://example.org/encrypted",
            "key": {"k": "x"},
            "iv": "y",
            "hashes": {"sha256": "z"},
            "v": "v2",
        },
        "info": {"mimetype": "image/png"},
    }
    view, html = tile(content)
    assert view.extra["encrypted_attachment"] is True
    assert "encrypted attachment" in html
    assert "secret.png" in html
    assert "<img" not in html and "<audio" not in html and "<video" not in html
    assert "src=" not in html and "href=" not in html
    assert "mxc://" not in html and "/media/" not in html


def test_encrypted_sticker_shows_the_placeholder():
    content = {"body": "s", "file": {"url": "mxc://example.org/e"}}
    view, html = tile(content, event_type="m.sticker")
    assert "encrypted attachment" in html
    assert "<img" not in html


def test_caption_plain_body():
    content = {
        "msgtype": "m.image",
        "body": "look <here>\nsecond line",
        "filename": "cat.png",
        "url": MXC,
    }
    view, html = tile(content)
    assert view.extra["name"] == "cat.png"
    assert '<figcaption class="caption">' in html
    assert "look &lt;here&gt;<br>second line" in html
    assert 'href="/media/example.org/AbC_12-x/?filename=cat.png"' in html


def test_caption_formatted_preferred_and_sanitised():
    content = {
        "msgtype": "m.file",
        "body": "plain caption",
        "filename": "doc.pdf",
        "format": "org.matrix.custom.html",
        "formatted_body": '<b>rich</b> caption<script>alert(1)</script><img src="https://evil.example/x"'
        ' onerror="alert(2)"><a href="javascript:alert(3)">x</a>',
        "url": MXC,
    }
    view, html = tile(content)
    caption = view.extra["caption_html"]
    assert "<b>rich</b> caption" in caption
    assert "plain caption" not in html
    for bad in ("<script", "alert(1)", "onerror", "javascript:", "evil.example"):
        assert bad not in html, bad
    assert '<span class="file-name">doc.pdf</span>' in html


def test_caption_formatted_inline_mxc_image_goes_through_the_proxy():
    content = {
        "msgtype": "m.image",
        "body": "caption",
        "filename": "cat.png",
        "format": "org.matrix.custom.html",
        "formatted_body": 'see <img src="mxc://example.org/emote1" alt="emote">',
        "url": MXC,
    }
    _, html = tile(content)
    assert 'src="/media/example.org/emote1/' in html
    assert_no_foreign_urls(html)


def test_caption_formatted_that_sanitises_to_nothing_uses_the_body():
    content = {
        "msgtype": "m.image",
        "body": "fallback caption",
        "filename": "cat.png",
        "format": "org.matrix.custom.html",
        "formatted_body": "<script>alert(1)</script>",
        "url": MXC,
    }
    view, html = tile(content)
    assert view.extra["caption_html"] == "fallback caption"
    assert "alert" not in html


@pytest.mark.parametrize(
    "content",
    [
        {"body": "cat.png"},  # no filename: the body is the file name
        {"body": "cat.png", "filename": "cat.png"},  # the same: no caption
        {"body": "", "filename": "cat.png"},
        {"body": "x", "filename": 5},
    ],
)
def test_no_caption(content):
    view, html = tile({"msgtype": "m.image", "url": MXC, **content})
    assert view.extra["caption_html"] == ""
    assert "caption" not in html
