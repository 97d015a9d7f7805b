"""`{% load tile_time %}` … `{% tile_time view.timestamp %}`: a message tile's time,
`<time datetime="…" title="…">HH:MM</time>`, as `{{ t|date:'c' }}`, `{{ t|date:'DATETIME_FORMAT' }}`
and `{{ t|date:'H:i' }}` would write it, from one conversion to the reader's time zone
instead of three. Three `date` filters were a seventh of rendering a new message's tile."""

from __future__ import annotations

from datetime import datetime

from django import template
from django.utils.formats import date_format
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.timezone import localtime

register = template.Library()


@register.simple_tag
def tile_time(value: datetime | None) -> SafeString | str:
    """The `<time>` element of a tile's header ('' without a time)."""
    if not isinstance(value, datetime):
        return ""
    local = localtime(value)
    return format_html(
        '<time datetime="{}" title="{}">{}</time>',
        local.isoformat(),
        date_format(local, "DATETIME_FORMAT"),
        f"{local.hour:02d}:{local.minute:02d}",
    )
