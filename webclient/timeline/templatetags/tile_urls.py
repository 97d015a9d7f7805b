"""`{% load tile_urls %}` … `{% tile_url 'rooms:react' view.room_id view.event_id %}`: the same
URL as `{% url %}`, made from a per-view-name template instead of Django's `reverse`.

A tile's actions menu links a dozen views of its event; `reverse` (the resolver's regex
matching and quoting, the script prefix and URL conf looked up in context-local storage)
was about 40% of rendering a new message's tile, which is on the path from the homeserver's
sync to the screen. `reverse` runs once per view name and argument count, with placeholder
arguments; each URL then quotes its arguments as `reverse` does (RFC 3986 `pchar`,
character by character, so quoting the parts equals quoting the whole) between the
template's fixed parts. Arguments `reverse` would refuse for a `<str:…>` part (empty, or
holding a `/`) go to `reverse` itself, which says so.

`{% tile_actions view %}` is `{% include "events/_actions.html" %}` (the actions menu every
message tile has, more than half of rendering one) rendered once per room, sender, kind of
message and language with a placeholder event ID, and the event's ID put in its places.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from types import SimpleNamespace
from typing import Any
from urllib.parse import quote

from django import template
from django.template.loader import render_to_string
from django.urls import get_script_prefix, get_urlconf, reverse
from django.utils import translation
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

register = template.Library()

# Placeholders no real argument is taken for (only the template's own text is split on them).
_PLACEHOLDER = "wcTILEURLARG{}x"
_SAFE = "!$&'()*+,;=" + "/~:@"  # django.urls.resolvers: RFC3986_SUBDELIMS + "/~:@"
_templates: dict[tuple[str, int, str, Any], list[str] | None] = {}
_SPLIT = re.compile(r"wcTILEURLARG(\d+)x")


def _template(viewname: str, count: int) -> list[str] | None:
    """The fixed parts of the view's URL around its `count` arguments, in order; None when
    the placeholders do not come out once each and in order (then `reverse` does it)."""
    key = (viewname, count, get_script_prefix(), get_urlconf())
    if key not in _templates:
        url = reverse(viewname, args=[_PLACEHOLDER.format(i) for i in range(count)])
        parts = _SPLIT.split(url)
        fixed, order = parts[0::2], [int(p) for p in parts[1::2]]
        _templates[key] = fixed if order == list(range(count)) else None
    return _templates[key]


def tile_reverse(viewname: str, *args: Any) -> str:
    """`reverse(viewname, args=args)` for views whose arguments are `<str:…>` parts."""
    texts = [str(a) for a in args]
    fixed = _template(viewname, len(texts))
    if fixed is None or any(not t or "/" in t for t in texts):
        return reverse(viewname, args=texts)
    out = [fixed[0]]
    for text, after in zip(texts, fixed[1:], strict=True):
        out.append(quote(text, safe=_SAFE))
        out.append(after)
    return "".join(out)


@register.simple_tag
def tile_url(viewname: str, *args: Any) -> str:
    """Like `{% url %}` (escaped where autoescaping is on, as simple tags are)."""
    return tile_reverse(viewname, *args)


ACTIONS_TEMPLATE = "events/_actions.html"
_EVENT = "wcTILEEVENTx"  # survives quoting and escaping unchanged
_actions: OrderedDict[tuple[Any, ...], list[str]] = OrderedDict()
ACTIONS_CACHED = 1024


@register.simple_tag
def tile_actions(view: Any) -> SafeString:
    """`{% include "events/_actions.html" %}` for `view`, from the menu of its kind."""
    event_id = str(view.event_id)
    if not event_id or "/" in event_id or _EVENT in event_id:
        return render_to_string(ACTIONS_TEMPLATE, {"view": view})
    # Everything the menu reads of the view but the event ID, and what URLs depend on.
    key = (
        translation.get_language(),
        get_script_prefix(),
        get_urlconf(),
        view.room_id,
        view.sender,
        view.sender_name,
        view.css,
        bool(view.thread_root),
    )
    parts = _actions.get(key)
    if parts is None:
        skeleton = SimpleNamespace(
            room_id=view.room_id,
            event_id=_EVENT,
            sender=view.sender,
            sender_name=view.sender_name,
            css=view.css,
            thread_root=view.thread_root,
        )
        parts = render_to_string(ACTIONS_TEMPLATE, {"view": skeleton}).split(_EVENT)
        _actions[key] = parts
        if len(_actions) > ACTIONS_CACHED:
            _actions.popitem(last=False)
    else:
        _actions.move_to_end(key)
    in_path = escape(quote(event_id, safe=_SAFE))  # a `{% tile_url %}` argument
    in_query = escape(quote(event_id, safe="/"))  # `|urlencode` (`?reply_to=`)
    as_id = escape(event_id)  # `{{ view.event_id }}` (the menu's `id="actions-…"`)
    out = [parts[0]]
    for part in parts[1:]:
        before = out[-1]
        if before.endswith("reply_to="):
            out.append(in_query)
        elif before.endswith('"actions-'):
            out.append(as_id)
        else:
            out.append(in_path)
        out.append(part)
    return mark_safe("".join(out))  # noqa: S308 - escaped parts of an escaped rendering
