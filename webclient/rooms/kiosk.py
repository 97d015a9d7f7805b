"""`/kiosk/<token>/`: rooms on a wall screen, unattended, with no login.

A kiosk link is made by a signed-in user for rooms they have joined. It signs in a display
device of that user ("kiosk: <name>", by password, like automation tokens), so all screens
showing the link share that device's one sync loop. The link's token is signed and names the
link's row and a nonce; revoking deletes the row and signs the device out, and every screen
showing it says so at once (the device's channel group carries `session.ended`).
"""

from __future__ import annotations

import logging
from typing import Any

from channels.layers import get_channel_layer
from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_GET, require_POST

from webclient.build import build_id
from webclient.live import devices as live_devices
from webclient.live import publisher
from webclient.live.access import from_kiosk_token
from webclient.live.devices import device_for, device_op
from webclient.matrix import auth, device_trust, devices, errors
from webclient.matrix.models import KIOSK_MAX_ROOMS, KIOSK_THEMES, Credential, KioskLink
from webclient.matrix.session import MatrixSession
from webclient.web.auth import matrix_login_required
from webclient.web.confirm import require_confirmation
from webclient.web.context import THEME_LABELS
from webclient.web.rooms import FIRST_SYNC_WAIT

from . import screens
from .timeline_pages import screen_timeline

logger = logging.getLogger("webclient.rooms")

DEVICE_PREFIX = "kiosk: "
# Font scales offered (CSS classes, since the policy allows no inline style).
SCALES = {"1": "100%", "1.25": "125%", "1.5": "150%", "2": "200%", "2.5": "250%", "3": "300%"}


def _scale_class(value: float) -> str:
    return "scale-" + str(round(value * 100))


# -- the screen ------------------------------------------------------------------------------


def _revoked(request: HttpRequest) -> HttpResponse:
    return render(request, "rooms/kiosk_revoked.html", {"theme": "dark"}, status=404)


@require_GET
async def kiosk_view(request: HttpRequest, token: str) -> HttpResponse:
    access = await from_kiosk_token(token, seen=True)
    if access is None:
        return _revoked(request)
    link = access.kiosk
    assert link is not None
    session = await device_for(access.credential)
    await session.wait_synced(FIRST_SYNC_WAIT)
    panels: list[dict[str, Any]] = []
    epoch, position = session.epoch, session.position
    for room_id in link.room_ids:
        summary = session.rooms.rooms.get(room_id)
        panel: dict[str, Any] = {
            "room_id": room_id,
            "room_name": summary.display_name(session.user_id) if summary else room_id,
            "timeline_url": reverse("rooms:kiosk_timeline", args=[token, room_id]),
        }
        if summary is None or summary.membership != "join":
            panel.update({"timeline": [], "load_error": _("This room is no longer joined.")})
        else:
            try:
                panel.update(
                    await session.run(
                        screen_timeline, room_id=room_id, media_prefix=access.media_prefix
                    )
                )
            except errors.UnknownToken:
                return _revoked(request)
            except errors.MatrixError as exc:
                panel.update({"timeline": [], "load_error": exc.message})
        # No unread divider; state lines only when the link asks for them.
        panel["timeline"] = [
            i
            for i in panel["timeline"]
            if i.get("event_id") and (link.show_state or i.get("state_key") is None)
        ]
        panels.append(panel)
    context = {
        "link": link,
        "token": token,
        "panels": panels,
        "epoch": epoch,
        "pos": position,
        "theme": link.theme if link.theme in KIOSK_THEMES else "dark",
        "scale_class": _scale_class(link.font_scale),
        "max_tiles": settings.KIOSK_MAX_TILES,
        "build": build_id(),
        "refresh_seconds": settings.KIOSK_REFRESH_SECONDS,
        "now": timezone.now(),
    }
    response = render(request, "rooms/kiosk.html", context)
    response.headers["Cache-Control"] = "no-store"
    return response


@require_GET
async def kiosk_timeline(request: HttpRequest, token: str, room_id: str) -> HttpResponse:
    access = await from_kiosk_token(token)
    if access is None or room_id not in access.room_ids:
        return HttpResponse(
            _("This kiosk link was revoked."), status=404, content_type="text/plain"
        )
    session = await device_for(access.credential)
    return await screens.timeline_fragment(request, session, room_id, access)


@require_GET
async def kiosk_media(request: HttpRequest, token: str, server_name: str, media_id: str):  # noqa: ANN201
    access = await from_kiosk_token(token)
    return await screens.media(request, access, server_name, media_id)


@require_GET
async def kiosk_thumbnail(request: HttpRequest, token: str, server_name: str, media_id: str):  # noqa: ANN201
    access = await from_kiosk_token(token)
    return await screens.media(request, access, server_name, media_id, thumbnail=True)


# -- managing links (Settings → Kiosk screens) -----------------------------------------------


def links_of(credential: Credential):  # noqa: ANN201 - a QuerySet
    return KioskLink.objects.filter(
        owner_id=credential.owner_id,
        credential__user_id=credential.user_id,
        credential__homeserver=credential.homeserver,
    ).select_related("credential")


async def _joined_rooms(credential: Credential) -> list[tuple[str, str]]:
    session = await device_for(credential)
    await session.wait_synced(FIRST_SYNC_WAIT)
    rooms = [
        (room_id, summary.display_name(session.user_id))
        for room_id, summary in session.rooms.rooms.items()
        if summary.membership == "join"
    ]
    return sorted(rooms, key=lambda r: r[1].casefold())


async def _page(request: HttpRequest, status: int = 200, **extra: Any) -> HttpResponse:
    credential: Credential = request.credential
    links = [link async for link in links_of(credential)]
    rooms = await _joined_rooms(credential)
    names = dict(rooms)
    context = {
        "credential": credential,
        "links": [
            {
                "link": link,
                "url": request.build_absolute_uri(reverse("rooms:kiosk", args=[link.token])),
                "room_names": [names.get(r, r) for r in link.room_ids],
            }
            for link in links
        ],
        "rooms": rooms,
        "themes": [(t, THEME_LABELS[t]) for t in KIOSK_THEMES],
        "scales": SCALES,
        "max_rooms": KIOSK_MAX_ROOMS,
        "selected": request.POST.getlist("rooms") or request.GET.getlist("room"),
        "name": "",
        "kiosk_theme": "dark",
        "scale": "1.5",
        "show_state": False,
        "name_max": devices.MAX_NAME_LENGTH,
        **extra,
    }
    return render(request, "rooms/kiosk_links.html", context, status=status)


@require_GET
@matrix_login_required
async def links_view(request: HttpRequest) -> HttpResponse:
    return await _page(request)


@require_POST
@matrix_login_required
@sensitive_post_parameters("password", "recovery_key")
async def create_link_view(request: HttpRequest) -> HttpResponse:
    credential: Credential = request.credential
    name = devices.clean_name(request.POST.get("name", ""))
    password = request.POST.get("password", "")
    theme = request.POST.get("theme", "dark")
    scale = request.POST.get("scale", "1.5")
    show_state = request.POST.get("show_state") == "1"
    chosen = list(dict.fromkeys(request.POST.getlist("rooms")))
    joined = dict(await _joined_rooms(credential))
    keep = {"name": name, "kiosk_theme": theme, "scale": scale, "show_state": show_state}
    error = None
    if not name:
        error = _("Give the screen a name, such as “lobby”.")
    elif not chosen:
        error = _("Choose the room (or up to four rooms) to show.")
    elif len(chosen) > KIOSK_MAX_ROOMS:
        error = _("A screen shows at most %(max)d rooms.") % {"max": KIOSK_MAX_ROOMS}
    elif any(room_id not in joined for room_id in chosen):
        error = _("You can only show rooms you have joined.")
    elif theme not in KIOSK_THEMES or scale not in SCALES:
        error = _("Choose a theme and a text size from the lists.")
    elif not password:
        error = _("Enter your account password: the screen gets its own device.")
    if error:
        return await _page(request, status=400, create_error=error, **keep)
    try:
        answer = await devices.sign_in_device(credential, password, DEVICE_PREFIX + name)
    except errors.MatrixError as exc:
        return await _page(request, status=400, create_error=exc.message, **keep)
    display = Credential(
        owner_id=credential.owner_id,
        user_id=credential.user_id,
        device_id=answer["device_id"],
        homeserver=credential.homeserver,
        owns_device=True,
    )
    display.access_token = answer["access_token"]
    await display.asave()
    if recovery_key := request.POST.get("recovery_key", "").strip()[:1024]:
        # Encrypted rooms: the screen's device is verified now, or the link is not made.
        try:
            device = await device_for(display)
            await device.run(verify_new_device, recovery_key=recovery_key)
        except errors.MatrixError as exc:
            await live_devices.stop(display)
            try:
                await auth.logout(display.homeserver, display.access_token)
            finally:
                await display.adelete()
            return await _page(request, status=400, create_error=exc.message, **keep)
    link = await KioskLink.objects.acreate(
        owner_id=credential.owner_id,
        credential=display,
        name=name,
        room_ids=chosen,
        theme=theme,
        font_scale=float(scale),
        show_state=show_state,
    )
    logger.info("kiosk link %s for %s (%s)", link.pk, credential.user_id, display.device_id)
    url = request.build_absolute_uri(reverse("rooms:kiosk", args=[link.token]))
    return await _page(request, new_link=link, new_url=url)


@device_op(once=True)
async def verify_new_device(session: MatrixSession, recovery_key: str) -> None:
    """A new kiosk device verifies itself with the recovery key (by the device's owner)."""
    await device_trust.verify_new_device(session, recovery_key)


async def revoke(link: KioskLink) -> None:
    """End the link: its device is signed out on the homeserver (its token dies), the
    credential and link are deleted, and every screen showing it is told."""
    credential = link.credential
    await live_devices.stop(credential)
    try:
        await auth.logout(credential.homeserver, credential.access_token)
    except errors.MatrixError as exc:
        logger.warning("kiosk device %s not signed out: %s", credential.device_id, exc)
    credential_id = credential.pk
    await credential.adelete()  # the link goes with it
    await publisher.end_pages(credential_id, "revoked")


@require_POST
@matrix_login_required
async def revoke_link_view(request: HttpRequest, pk: int) -> HttpResponse:
    link = await links_of(request.credential).filter(pk=pk).afirst()
    if link is None:
        messages.warning(request, _("That kiosk link was already revoked."))
    else:
        require_confirmation(
            request,
            _("Revoke the kiosk link “%(name)s”? Screens showing it stop at once.")
            % {"name": link.name},
            _("Revoke"),
        )
        await revoke(link)
        messages.success(
            request,
            _("Kiosk link “%(name)s” revoked; its screens now say so.") % {"name": link.name},
        )
    return HttpResponseRedirect(reverse("rooms:kiosk_links"))


@require_POST
@matrix_login_required
async def show_state_view(request: HttpRequest, pk: int) -> HttpResponse:
    """Show or hide membership changes and other state lines on a link's screens; the open
    screens reload to follow."""
    link = await links_of(request.credential).filter(pk=pk).afirst()
    if link is None:
        messages.warning(request, _("That kiosk link was revoked."))
        return HttpResponseRedirect(reverse("rooms:kiosk_links"))
    link.show_state = request.POST.get("show_state") == "1"
    await link.asave(update_fields=["show_state"])
    # A screen told its session ended reloads, and comes back with the new setting.
    await get_channel_layer().group_send(
        publisher.screens_group(link.credential_id),
        {"type": "session.ended", "reason": "settings"},
    )
    messages.success(
        request,
        (
            _("“%(name)s” now shows room events.")
            if link.show_state
            else _("“%(name)s” now shows messages only.")
        )
        % {"name": link.name},
    )
    return HttpResponseRedirect(reverse("rooms:kiosk_links"))


@require_GET
async def kiosk_encrypted(request: HttpRequest, token: str, server_name: str, media_id: str):  # noqa: ANN201
    access = await from_kiosk_token(token)
    return await screens.media(request, access, server_name, media_id, encrypted=True)
