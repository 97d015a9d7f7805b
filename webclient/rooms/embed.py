"""`/embed/<room>/`: one room, in compact chrome for an iframe on an intranet page.

Framing is allowed only by the origins in EMBED_ALLOWED_ORIGINS (middleware.py). Who reads,
in this order:

1. the viewer's own login, when the browser sends its session cookie (same site, or the
   cross-site cookie of EMBED_CROSS_SITE_COOKIE) and that login has joined the room;
2. the operator's display account (EMBED_DISPLAY_ACCESS_TOKEN), when it has joined the room;
3. this client's Matrix guest account, when the room lets guests join (EMBED_GUEST_ACCESS).

Embeds are read-only; `?composer=1` adds a composer, but only for a viewer reading through
their own login (a shared account never posts for anonymous viewers).
"""

from __future__ import annotations

import asyncio
import logging

from django.conf import settings
from django.contrib.sessions.backends.base import SessionBase
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.module_loading import import_string
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

from webclient.build import build_id
from webclient.live.access import from_ticket, issue_ticket
from webclient.live.devices import DeviceHandle, device_for, device_op
from webclient.matrix import device_trust, display_accounts, errors
from webclient.matrix.api import new_txn_id
from webclient.matrix.models import SESSION_KEY, Credential
from webclient.matrix.session import MatrixSession
from webclient.web.context import theme_of
from webclient.web.middleware import EMBED_COOKIE
from webclient.web.rooms import FIRST_SYNC_WAIT

from . import screens
from .timeline_pages import screen_timeline

logger = logging.getLogger("webclient.rooms")

JOIN_WAIT = 10.0


async def _own_credential(request: HttpRequest) -> Credential | None:
    """The viewer's login: the session cookie when it came, else the embed-path copy."""
    credential_id = await request.session.aget(SESSION_KEY)
    if credential_id is None and (key := request.COOKIES.get(EMBED_COOKIE)):
        store_class = import_string(settings.SESSION_ENGINE + ".SessionStore")
        store: SessionBase = store_class(session_key=key)
        credential_id = await store.aget(SESSION_KEY)
    if credential_id is None:
        return None
    return await Credential.objects.filter(pk=credential_id).afirst()


async def _joined(credential: Credential, room: str) -> tuple[DeviceHandle, str] | None:
    session = await device_for(credential)
    try:
        room_id = await session.resolve(room)
    except (errors.MatrixError, errors.UnknownToken):
        return None
    await session.wait_synced(FIRST_SYNC_WAIT)
    summary = session.room(room_id)
    if summary is not None and summary.membership == "join":
        return session, room_id
    return None


async def _as_guest(room: str) -> tuple[DeviceHandle, str] | str:
    """Read through the guest account, joining the room if guests may; or why not."""
    homeserver = settings.MATRIX_HOMESERVER or display_accounts.display_homeserver()
    if not settings.EMBED_GUEST_ACCESS or not homeserver:
        return ""
    try:
        credential = await display_accounts.guest_credential(homeserver)
    except errors.MatrixError as exc:
        return exc.message
    if found := await _joined(credential, room):
        return found
    session = await device_for(credential)
    try:
        await session.api.join(room)
        room_id = await session.resolve(room)
    except errors.MatrixError as exc:
        logger.info("guest could not join %s: %s", room, exc)
        if exc.errcode in ("M_FORBIDDEN", "M_GUEST_ACCESS_FORBIDDEN"):
            return ""
        return exc.message
    if await session.wait_until(
        room_id, lambda s: s is not None and s.membership == "join", JOIN_WAIT
    ):
        return session, room_id
    return _("The room did not open in time. Reload to try again.")


_trusting: set[int] = set()


@device_op
async def trust_display_device(session: MatrixSession, recovery_key: str) -> bool:
    return await device_trust.trust_display_device(session, recovery_key)


def _trust_display(session: DeviceHandle) -> None:
    """Once per session: the display account's device verifies itself (in the background,
    so the first embed is not held up)."""
    if session.credential_id in _trusting or not settings.E2E_ENABLED:
        return
    _trusting.add(session.credential_id)
    task = asyncio.get_running_loop().create_task(
        session.run(trust_display_device, recovery_key=settings.EMBED_DISPLAY_RECOVERY_KEY)
    )
    task.add_done_callback(lambda _: _trusting.discard(session.credential_id))


async def choose_reader(
    request: HttpRequest, room: str
) -> tuple[DeviceHandle, str, str, Credential] | str:
    """(session, room ID, mode, credential) of whoever can read the room for this viewer,
    or the reason nobody can."""
    if (own := await _own_credential(request)) and (found := await _joined(own, room)):
        return *found, "own", own
    display = None
    try:
        display = await display_accounts.display_credential()
    except errors.MatrixError as exc:
        logger.warning("embed display account unusable: %s", exc)
    if display and (found := await _joined(display, room)):
        _trust_display(found[0])
        return *found, "display", display
    guest = await _as_guest(room)
    if isinstance(guest, tuple):
        session, room_id = guest
        credential = await Credential.objects.aget(pk=session.credential_id)
        return session, room_id, "guest", credential
    return guest


@require_GET
async def embed_view(request: HttpRequest, room: str) -> HttpResponse:
    chosen = await choose_reader(request, room)
    if isinstance(chosen, str):
        context = {
            "room": room,
            "reason": chosen,
            "room_url": reverse("rooms:room", args=[room]),
            "theme": theme_of(request.GET.get("theme")),
        }
        return render(request, "rooms/embed_unavailable.html", context, status=403)
    session, room_id, mode, credential = chosen
    can_send = mode == "own" and request.GET.get("composer") == "1"
    ticket = issue_ticket(credential, room_id, mode, can_send=can_send)
    prefix = reverse("rooms:embed_ticket_root", args=[ticket])
    summary = session.rooms.rooms[room_id]
    context = {
        "credential": credential if mode == "own" else None,
        "viewer_id": credential.user_id if mode == "own" else "",
        "mode": mode,
        "room_id": room_id,
        "room_name": summary.display_name(session.user_id),
        "ticket": ticket,
        "timeline_url": prefix,
        "page_url": reverse("rooms:embed", args=[room]),
        "can_send": can_send,
        "txn_id": new_txn_id(),
        "upload_limit": "",
        "max_tiles": settings.MAX_TILES,
        "parent_origins": " ".join(settings.EMBED_ALLOWED_ORIGINS),
        "build": build_id(),
        "refresh_seconds": settings.KIOSK_REFRESH_SECONDS,
        "room_url": request.build_absolute_uri(reverse("rooms:room", args=[room_id])),
        # The embedding page's ?theme= wins; else the viewer's own choice; else the browser's.
        "theme": theme_of(request.GET.get("theme"))
        or (theme_of(credential.theme) if mode == "own" else ""),
    }
    try:
        context.update(
            await session.run(
                screen_timeline,
                room_id=room_id,
                media_prefix=prefix,
                from_token=request.GET.get("from"),
                after=request.GET.get("after"),
            )
        )
    except errors.MatrixError as exc:
        context.update(
            {"timeline": [], "load_error": exc.message, "epoch": session.epoch, "pos": -1}
        )
    return render(request, "rooms/embed.html", context)


@require_GET
async def embed_timeline(request: HttpRequest, ticket: str) -> HttpResponse:
    access = await from_ticket(ticket)
    if access is None:
        return HttpResponse(_("This page has expired."), status=401, content_type="text/plain")
    session = await device_for(access.credential)
    return await screens.timeline_fragment(request, session, access.room_ids[0], access)


@require_GET
async def embed_media(request: HttpRequest, ticket: str, server_name: str, media_id: str):  # noqa: ANN201
    access = await from_ticket(ticket)
    return await screens.media(request, access, server_name, media_id)


@require_GET
async def embed_thumbnail(request: HttpRequest, ticket: str, server_name: str, media_id: str):  # noqa: ANN201
    access = await from_ticket(ticket)
    return await screens.media(request, access, server_name, media_id, thumbnail=True)


@require_GET
async def embed_encrypted(request: HttpRequest, ticket: str, server_name: str, media_id: str):  # noqa: ANN201
    access = await from_ticket(ticket)
    return await screens.media(request, access, server_name, media_id, encrypted=True)
