"""`{% load timeline_days %}` … `{% for item in timeline|with_days %}`: a page's tiles with
date separators between days, computed while the page renders, so in the viewer's time zone
and language (the tiles themselves are shared by every viewer)."""

from __future__ import annotations

from typing import Any

from django import template

from webclient.timeline.grouping import with_day_separators

register = template.Library()


@register.filter
def with_days(items: list[dict[str, Any]] | None) -> list[dict[str, Any]]:
    return with_day_separators(items or [])
