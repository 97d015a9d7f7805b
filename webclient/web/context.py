"""What every page shows: the signed-in login (the header's user ID and menus) and its theme."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from webclient.matrix.models import THEMES

#: What the theme choices are called on forms (the preferences page, kiosk links).
THEME_LABELS = {"light": _("Light"), "dark": _("Dark"), "contrast": _("High contrast")}


def theme_of(value: object) -> str:
    """A known theme name, or "" (follow the browser) for anything else: the value ends up in
    an attribute of <html>, so only the three names pass."""
    return value if isinstance(value, str) and value in THEMES else ""


def login(request: HttpRequest) -> dict[str, Any]:
    """`credential` and its `theme` for every template (a view may still pass its own, e.g.
    None, or the theme an embedding page asked for)."""
    credential = getattr(request, "credential", None)
    return {"credential": credential, "theme": theme_of(getattr(credential, "theme", ""))}
