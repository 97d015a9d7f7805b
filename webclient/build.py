"""Which build of the client is running, so long-lived pages (kiosk screens, embeds) can
reload themselves after an upgrade instead of running old JavaScript against a new server."""

from __future__ import annotations

import hashlib
from functools import cache
from pathlib import Path

from django.conf import settings

_PARTS = ("webclient", "templates", "static")
_SUFFIXES = {".py", ".html", ".js", ".css"}


@cache
def build_id() -> str:
    """WEBCLIENT_BUILD_ID when set, else a digest of the code, templates and static files."""
    if settings.WEBCLIENT_BUILD_ID:
        return settings.WEBCLIENT_BUILD_ID
    digest = hashlib.sha256()
    base = Path(settings.BASE_DIR)
    for part in _PARTS:
        for path in sorted((base / part).rglob("*")):
            if path.suffix in _SUFFIXES and path.is_file():
                digest.update(str(path.relative_to(base)).encode())
                digest.update(path.read_bytes())
    return digest.hexdigest()[:16]
