"""URL previews in tests: a Synapse with its preview endpoint on (the shared one has it off),
and a small web server on the loopback with pages to preview (an `og:` title, description
and picture, the title written by someone hostile)."""

from __future__ import annotations

import base64
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from html import escape
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from webclient.demo.homeserver import LocalSynapse

#: What the homeserver may fetch: the loopback page server only.
PREVIEW_CONFIG = {
    "url_preview_enabled": True,
    # Required with previews on; nothing here goes anywhere but the loopback.
    "url_preview_ip_range_blacklist": ["192.0.2.0/24"],
    "url_preview_ip_range_whitelist": ["127.0.0.1"],
}
# A 1x1 PNG.
PIXEL = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)


def page_html(title: str, description: str, image: bool = True) -> str:
    meta = [
        f'<meta property="og:title" content="{escape(title)}">',
        f'<meta property="og:description" content="{escape(description)}">',
        '<meta property="og:site_name" content="Loopback News">',
    ]
    if image:
        meta.append('<meta property="og:image" content="/pixel.png">')
    return f"<!doctype html><html><head>{''.join(meta)}<title>t</title></head><body>x</body></html>"


class PageServer:
    """Serves `pages` ({path: html}) and /pixel.png on 127.0.0.1; counts requests per path."""

    def __init__(self, pages: dict[str, str]) -> None:
        self.pages = pages
        self.hits: dict[str, int] = {}
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                server.hits[self.path] = server.hits.get(self.path, 0) + 1
                if self.path == "/pixel.png":
                    body, kind = PIXEL, "image/png"
                elif self.path in server.pages:
                    body, kind = server.pages[self.path].encode(), "text/html; charset=utf-8"
                else:
                    self.send_response(404)
                    self.end_headers()
                    return
                self.send_response(200)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> PageServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@contextmanager
def preview_synapse(data_dir: Path) -> Iterator[LocalSynapse]:
    with LocalSynapse(data_dir, extra_config=PREVIEW_CONFIG) as hs:
        yield hs
