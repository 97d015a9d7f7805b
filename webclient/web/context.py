"""What every page shows: the signed-in login (the header's user ID and menus)."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest


def login(request: HttpRequest) -> dict[str, Any]:
    """`credential` for every template (a view may still pass its own, e.g. None)."""
    return {"credential": getattr(request, "credential", None)}
