"""URL previews: the fragment a message's script asks for, and the per-room and per-account
switches (webclient/matrix/previews.py says how they combine, as in Element).

Previews depend on the viewer's settings, so they are never part of the shared tile: the
room page's script (static/js/previews.js) asks `/rooms/<room>/preview/?event=…&url=…` for
each of a message's first links and puts the answer under it. Without JavaScript a link is
just a link."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from webclient.live.devices import device_op
from webclient.matrix import errors, previews
from webclient.matrix.session import MatrixSession
from webclient.web.auth import matrix_login_required
from webclient.web.errors import PageError
from webclient.web.rooms import ROOM_SYNC_WAIT, access_room, session_of


def _mentions(content: object, url: str) -> bool:
    if not isinstance(content, dict):
        return False
    texts = [content.get("body"), content.get("formatted_body")]
    new = content.get("m.new_content")
    if isinstance(new, dict):
        texts += [new.get("body"), new.get("formatted_body")]
    escaped = url.replace("&", "&amp;")
    return any(isinstance(t, str) and (url in t or escaped in t) for t in texts)


@matrix_login_required(fragment=True)
async def preview_fragment(request: HttpRequest, room: str) -> HttpResponse:
    """The preview card of one link of one message, or 204 when there is none to show (the
    viewer has previews off here, the link is not in the message, nothing came back)."""
    found = await access_room(request, room)
    session, room_id, summary = found.session, found.room_id, found.summary
    assert summary is not None
    url = request.GET.get("url", "")
    event_id = request.GET.get("event", "")
    if not previews.previewable(url) or not event_id.startswith("$"):
        return HttpResponse(status=204)
    if not await previews.enabled(session, summary):
        return HttpResponse(status=204)
    try:
        event, shown = await session.run(message_and_shown, room_id=room_id, event_id=event_id)
    except errors.MatrixError:
        return HttpResponse(status=204)
    # Only links a message carries: this is no way to have the homeserver fetch anything.
    if not (_mentions(event.get("content"), url) or _mentions(shown, url)):
        return HttpResponse(status=204)
    ts = event.get("origin_server_ts")
    card = await previews.preview(session, url, ts if isinstance(ts, int) else None)
    if card is None:
        return HttpResponse(status=204)
    response = render(request, "rooms/_url_preview.html", {"url": url, "card": card})
    response["Cache-Control"] = "private, max-age=600"
    return response


def _back(request: HttpRequest, default: str) -> HttpResponseRedirect:
    target = request.POST.get("next", "")
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return HttpResponseRedirect(target)
    return HttpResponseRedirect(default)


@require_POST
@matrix_login_required
async def room_switch_view(request: HttpRequest, room: str) -> HttpResponse:
    """Turn URL previews on (`on=1`) or off for oneself in one room."""
    found = await access_room(request, room)
    session, room_id, summary = found.session, found.room_id, found.summary
    assert summary is not None
    on = request.POST.get("on") == "1"
    try:
        await previews.set_room(session, summary, on)
    except errors.MatrixError as exc:
        raise PageError(exc.message, _("Could not change URL previews"), 502) from exc

    def done(s):  # noqa: ANN001, ANN202 - a RoomSummary or None
        if s is None:
            return True
        return (s.url_previews_e2ee if s.encrypted else s.url_previews) == on

    await session.wait_until(room_id, done, ROOM_SYNC_WAIT)
    messages.success(
        request,
        _("Link previews are on in this room.") if on else _("Link previews are off in this room."),
    )
    return _back(request, reverse("rooms:settings", args=[room_id]) + "#url-previews")


@matrix_login_required
async def account_switch_view(request: HttpRequest) -> HttpResponse:
    """The account's switch (unencrypted rooms without a switch of their own)."""
    session = await session_of(request)
    if request.method == "POST":
        on = request.POST.get("on") == "1"
        try:
            await previews.set_account(session, on)
        except errors.MatrixError as exc:
            raise PageError(exc.message, _("Could not change URL previews"), 502) from exc
        messages.success(request, _("Link previews are on.") if on else _("Link previews are off."))
        return _back(request, reverse("rooms:url_previews"))
    return render(
        request, "rooms/url_previews.html", {"on": await previews.account_enabled(session)}
    )


@device_op(shared=True)
async def message_and_shown(
    session: MatrixSession, room_id: str, event_id: str
) -> tuple[dict[str, Any], Any]:
    """A message as sent, and the content its tile shows now (its newest edit's), by the
    device's owner (which decrypts)."""
    event = await session.event(room_id, event_id)
    tile = session.timeline(room_id).tile(event_id)
    return event, tile.event.get("content") if tile is not None else None
