"""A room's settings page (`/rooms/<room>/settings/`): its ID, version and share link, its
name and topic, how to embed it, leaving (a confirmation) and, once left, forgetting; and:

- `settings/avatar/`: upload a picture (JPEG, PNG, GIF or WebP, checked with Pillow) as the
  room's `m.room.avatar`, or remove it;
- `settings/addresses/`: the homeserver's local addresses of the room (`/directory/room/…`),
  and which of them the room publishes (`m.room.canonical_alias`: `alias` and `alt_aliases`);
- `settings/access/`: who can join (`m.room.join_rules`), who can read the history
  (`m.room.history_visibility`) and whether guests may join (`m.room.guest_access`);
- `settings/power/`: members' power levels (`m.room.power_levels` `users`).

Each is a plain form. A control is disabled, with the level it needs, when the viewer's power
(webclient/matrix/power.py) is below what the room asks for that event type; the homeserver
still decides, and its refusal is shown as it is with what was submitted kept. Raising someone
above one's own level, or changing someone at or above it, is refused here before anything is
sent (the spec's rule for power levels), as is changing the creators of a version 12 room.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any
from urllib.parse import quote, urlencode

from django import forms
from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from webclient.live.devices import DeviceHandle
from webclient.matrix import errors, previews
from webclient.matrix.names import is_valid_room_alias
from webclient.matrix.power import creators_outrank, level, power_of
from webclient.matrix.roomstate import RoomSummary
from webclient.timeline.avatars import avatar
from webclient.web.auth import matrix_login_required
from webclient.web.confirm import require_confirmation
from webclient.web.errors import NotInRoom
from webclient.web.forms import first_error
from webclient.web.middleware import embed_origins
from webclient.web.rooms import ROOM_SYNC_WAIT, RoomAccess, access_room
from webclient.web.uploads import image_size, upload

from .forms import (
    MAX_ALIAS,
    MAX_NAME,
    MAX_TOPIC,
    PowerLevelForm,
    RoomAvatarForm,
    own_server,
    parse_localpart,
    picture_type,
)

logger = logging.getLogger("webclient.rooms")

AVATAR_SIZE = 96
#: How many joined members the "set a level" field suggests.
MAX_SUGGESTED = 500
LEVEL_PRESETS = [
    (0, gettext_lazy("Default")),
    (50, gettext_lazy("Moderator")),
    (100, gettext_lazy("Admin")),
]

JOIN_RULES = {
    "public": gettext_lazy("Anyone can join"),
    "invite": gettext_lazy("Only invited people"),
    "knock": gettext_lazy("People who ask to join, once let in"),
}
OTHER_JOIN_RULES = {
    "restricted": gettext_lazy("Members of certain other rooms"),
    "knock_restricted": gettext_lazy("Members of certain other rooms, or people who ask"),
    "private": gettext_lazy("Private (reserved)"),
}
HISTORY = {
    "shared": gettext_lazy("Members, including what was said before they joined"),
    "invited": gettext_lazy("Members, from when they were invited"),
    "joined": gettext_lazy("Members, from when they joined"),
    "world_readable": gettext_lazy("Anyone, even without joining"),
}
GUEST_ACCESS = {"can_join": gettext_lazy("Guests may join"), "forbidden": gettext_lazy("No guests")}

# field: (event type, content key, choices, what the change is called, the field's label)
ACCESS_FIELDS: dict[str, tuple[str, str, dict[str, str], str, str]] = {
    "join_rule": (
        "m.room.join_rules",
        "join_rule",
        JOIN_RULES,
        gettext_lazy("who can join"),
        gettext_lazy("Who can join"),
    ),
    "history_visibility": (
        "m.room.history_visibility",
        "history_visibility",
        HISTORY,
        gettext_lazy("who can read the history"),
        gettext_lazy("Who can read the history"),
    ),
    "guest_access": (
        "m.room.guest_access",
        "guest_access",
        GUEST_ACCESS,
        gettext_lazy("guest access"),
        gettext_lazy("Guest access"),
    ),
}


def _settings_url(room: str) -> str:
    return reverse("rooms:settings", args=[room])


def knock_allowed(room_version: str) -> bool:
    """Knocking needs room version 7 or later (and the unstable versions named after them)."""
    return room_version.isdigit() and int(room_version) >= 7


def join_rule_choices(room_version: str, current: str) -> list[tuple[str, str]]:
    """The join rules offered: public and invite, knock where the version has it, and the
    current rule (even one this page cannot set, such as restricted) so it shows as chosen."""
    choices = [(key, label) for key, label in JOIN_RULES.items() if key != "knock"]
    if knock_allowed(room_version):
        choices.append(("knock", JOIN_RULES["knock"]))
    if current and current not in dict(choices):
        choices.append((current, OTHER_JOIN_RULES.get(current, current)))
    return choices


def _state(session: DeviceHandle, room_id: str, event_type: str):  # noqa: ANN202
    """A state event's content, or None when the room has none of that type."""
    return session.api.state_or_none(room_id, event_type, action=_("Loading the room's settings"))


def _needed_for(levels: dict[str, Any] | None, event_type: str) -> int:
    """The power level needed to send a state event of `event_type`."""
    if levels is None:
        return 0  # without a power levels event, anyone may send state (spec)
    events = levels.get("events") if isinstance(levels.get("events"), dict) else {}
    if event_type in events:
        return level(events[event_type], 50)
    return level(levels.get("state_default"), 50)


def _creators(create: dict[str, Any] | None) -> list[str]:
    """The creators of a room whose creators outrank everyone (version 12 on), else []."""
    if not create or not creators_outrank(create):
        return []
    content = create.get("content") or {}
    additional = content.get("additional_creators")
    found = [create.get("sender")] + (additional if isinstance(additional, list) else [])
    return [user for i, user in enumerate(found) if isinstance(user, str) and user not in found[:i]]


def _shown_level(value: float) -> str | int:
    return "creator" if value == float("inf") else int(value)


def _needs(levels: dict[str, Any] | None, event_type: str, own: float) -> dict[str, Any]:
    need = _needed_for(levels, event_type)
    return {"need": need, "may": own >= need}


# -- what the page shows -----------------------------------------------------------------------


async def _local_aliases(session: DeviceHandle, room_id: str) -> tuple[list[str], str]:
    """(the homeserver's local addresses of the room, a problem loading them or "")."""
    try:
        found = await session.api.local_aliases(room_id, action=_("Loading the room's addresses"))
    except errors.MatrixError as exc:
        return [], exc.message
    return sorted(found), ""


async def _joined_names(session: DeviceHandle, room_id: str) -> dict[str, str]:
    """Joined members' display names (user ID when none); {} when the server says no."""
    try:
        joined = await session.api.joined_members(room_id)
    except errors.MatrixError:
        return {}
    names = {}
    for user_id, profile in joined.items():
        name = profile.get("display_name") if isinstance(profile, dict) else None
        names[user_id] = name.strip() if isinstance(name, str) and name.strip() else user_id
    return names


def canonical_parts(content: dict[str, Any] | None) -> tuple[str, list[str]]:
    """(`alias` or "", the valid `alt_aliases` in order without repeats)."""
    content = content or {}
    alias = content.get("alias")
    alias = alias if isinstance(alias, str) and is_valid_room_alias(alias) else ""
    alt = content.get("alt_aliases")
    published: list[str] = []
    for item in alt if isinstance(alt, list) else []:
        if isinstance(item, str) and is_valid_room_alias(item) and item not in published:
            published.append(item)
    return alias, published


def _level_choice(value: int) -> dict[str, Any]:
    """What a level picker shows for `value`: a preset, or "custom" with the number."""
    presets = {preset for preset, _ in LEVEL_PRESETS}
    return {"level": str(value) if value in presets else "custom", "custom": value}


async def settings_context(
    session: DeviceHandle,
    room_id: str,
    summary: RoomSummary,
    levels: dict[str, Any] | None,
    create: dict[str, Any] | None,
    values: dict[str, str] | None = None,
    field_errors: dict[str, str] | None = None,
) -> dict[str, Any]:
    """What templates/rooms/_settings_advanced.html needs (called by `settings_page`)."""
    values = values or {}
    field_errors = field_errors or {}
    own = power_of(session.user_id, levels, create)
    version = str(((create or {}).get("content") or {}).get("room_version", "1"))
    (
        avatar_content,
        canonical,
        join_rules,
        history,
        guests,
        (aliases, aliases_error),
        names,
    ) = await asyncio.gather(
        _state(session, room_id, "m.room.avatar"),
        _state(session, room_id, "m.room.canonical_alias"),
        _state(session, room_id, "m.room.join_rules"),
        _state(session, room_id, "m.room.history_visibility"),
        _state(session, room_id, "m.room.guest_access"),
        _local_aliases(session, room_id),
        _joined_names(session, room_id),
    )
    main, published = canonical_parts(canonical)
    mxc = (avatar_content or {}).get("url")
    mxc = mxc if isinstance(mxc, str) and mxc.startswith("mxc://") else ""
    room_name = summary.display_name(session.user_id)

    # Access: the current values (as the spec defaults them when there is no event).
    join_rule = (join_rules or {}).get("join_rule")
    join_rule = join_rule if isinstance(join_rule, str) else "invite"
    visibility = (history or {}).get("history_visibility")
    visibility = visibility if visibility in HISTORY else "shared"
    guest = (guests or {}).get("guest_access")
    guest = guest if guest in GUEST_ACCESS else "forbidden"
    current = {"join_rule": join_rule, "history_visibility": visibility, "guest_access": guest}
    access = []
    for field, (event_type, _key, choices, what, label) in ACCESS_FIELDS.items():
        options = (
            join_rule_choices(version, join_rule) if field == "join_rule" else list(choices.items())
        )
        access.append(
            {
                "field": field,
                "slug": field.replace("_", "-"),
                "label": label,
                "what": what,
                "current": current[field],
                "chosen": values.get(field, current[field]),
                "options": options,
                "error": field_errors.get(field, ""),
                **_needs(levels, event_type, own),
            }
        )

    # Addresses: local ones with what the room publishes about each, then published
    # addresses of other servers (which only their homeservers can remove).
    address_rows = []
    for alias in aliases:
        address_rows.append(
            {"alias": alias, "main": alias == main, "published": alias in published, "local": True}
        )
    for alias in [main, *published]:
        if alias and alias not in aliases and all(r["alias"] != alias for r in address_rows):
            address_rows.append(
                {"alias": alias, "main": alias == main, "published": True, "local": False}
            )

    # Power levels: the creators of a version 12 room, then everyone `users` lists.
    users = (levels or {}).get("users")
    users = users if isinstance(users, dict) else {}
    creators = _creators(create)
    may_power = _needs(levels, "m.room.power_levels", own)
    power_rows = [
        {"user_id": user_id, "name": names.get(user_id, user_id), "creator": True}
        for user_id in creators
    ]
    listed = sorted(
        ((user_id, level(value)) for user_id, value in users.items() if user_id not in creators),
        key=lambda item: (-item[1], item[0]),
    )
    for user_id, value in listed:
        editable = may_power["may"] and (user_id == session.user_id or value < own)
        power_rows.append(
            {
                "user_id": user_id,
                "name": names.get(user_id, user_id),
                "creator": False,
                "level": value,
                "role": dict(LEVEL_PRESETS).get(value, _("Custom")),
                "editable": editable,
                "choice": _level_choice(value),
            }
        )
    power_values = {
        "user": values.get("power_user", ""),
        "level": values.get("power_level", "50"),
        "custom": values.get("power_custom", ""),
    }

    return {
        "room_avatar": avatar(room_id, room_name, mxc or None, AVATAR_SIZE),
        "avatar_mxc": mxc,
        "avatar_power": _needs(levels, "m.room.avatar", own),
        "alias_power": _needs(levels, "m.room.canonical_alias", own),
        "address_rows": address_rows,
        "main_alias": main,
        "aliases_error": aliases_error,
        "alias_localpart": values.get("alias_localpart", ""),
        "access": access,
        "power_power": may_power,
        "power_rows": power_rows,
        "power_values": power_values,
        "level_presets": LEVEL_PRESETS,
        "suggested_members": sorted(names)[:MAX_SUGGESTED],
        "users_default": level((levels or {}).get("users_default"), 0),
        "own_level": _shown_level(own),
        "server_name": own_server(session.user_id),
        "max_alias": MAX_ALIAS,
    }


# -- the forms ---------------------------------------------------------------------------------


async def _joined(request: HttpRequest, room: str) -> RoomAccess:
    """A room the user has joined; `NotInRoom` otherwise (its settings page then says what
    is left to do)."""
    found = await access_room(request, room, membership=None)
    if found.summary is None or found.summary.membership != "join":
        raise NotInRoom()
    return found


def _refused(request: HttpRequest, room: str, field: str, message: str, values=None):
    return settings_page(
        request, room, values=values or {}, field_errors={field: message}, status=400
    )


@require_POST
@matrix_login_required
async def avatar_view(request: HttpRequest, room: str) -> HttpResponse:
    """`action=upload` with a picture in `avatar`, or `action=remove`."""
    form = RoomAvatarForm(request.POST, request.FILES)
    if not form.is_valid():
        return await _refused(request, room, "avatar", first_error(form))
    found = await _joined(request, room)
    session, room_id = found.session, found.room_id
    if form.cleaned_data["action"] == "remove":
        require_confirmation(request, _("Remove the room's avatar?"), _("Remove avatar"))
        try:
            await session.api.put_state(
                room_id, "m.room.avatar", {}, action=_("Removing the room's avatar")
            )
        except errors.MatrixError as exc:
            return await _refused(request, room, "avatar", exc.message)
        await session.wait_until(room_id, lambda s: s is None or not s.avatar_url, ROOM_SYNC_WAIT)
        messages.success(request, _("Room avatar removed."))
        return HttpResponseRedirect(_settings_url(room))
    uploaded = form.cleaned_data["avatar"]
    mimetype = picture_type(uploaded)
    uploaded.content_type = mimetype
    info: dict[str, Any] = {"mimetype": mimetype, "size": uploaded.size}
    if dims := image_size(uploaded):
        info["w"], info["h"] = dims
    try:
        mxc = await upload(session, uploaded)
        await session.api.put_state(
            room_id, "m.room.avatar", {"url": mxc, "info": info}, action=_("Changing the avatar")
        )
    except errors.MatrixError as exc:
        return await _refused(request, room, "avatar", exc.message)
    await session.wait_until(room_id, lambda s: s is None or s.avatar_url == mxc, ROOM_SYNC_WAIT)
    messages.success(request, _("Room avatar changed."))
    return HttpResponseRedirect(_settings_url(room))


async def _set_canonical(
    session: DeviceHandle, room_id: str, change, action: str
) -> tuple[str, list[str]]:
    """Read `m.room.canonical_alias` just before writing, apply `change(main, published)` →
    (main, published), and write it back with any other keys as they were."""
    content = dict(await _state(session, room_id, "m.room.canonical_alias") or {})
    main, published = change(*canonical_parts(content))
    published = [alias for alias in published if alias != main]
    if main:
        content["alias"] = main
    else:
        content.pop("alias", None)
    content["alt_aliases"] = published
    await session.api.put_state(room_id, "m.room.canonical_alias", content, action=action)
    return main, published


@require_POST
@matrix_login_required
async def addresses_view(request: HttpRequest, room: str) -> HttpResponse:
    """`action=add` with `localpart`; `main`, `publish`, `unpublish` or `delete` with `alias`
    (`main` with an empty alias: no main address)."""
    found = await _joined(request, room)
    session, room_id = found.session, found.room_id
    action = request.POST.get("action", "")
    server = own_server(session.user_id)
    if action == "add":
        typed = request.POST.get("localpart", "")[: MAX_ALIAS * 2]
        kept = {"alias_localpart": typed}
        localpart = parse_localpart(typed, server)
        if localpart is None:
            return await _refused(
                request,
                room,
                "alias",
                _(
                    "“%(typed)s” cannot be an address. Type only the part before :%(server)s, "
                    "without spaces, colons, # or @."
                )
                % {"typed": typed.strip(), "server": server},
                kept,
            )
        alias = f"#{localpart}:{server}"
        try:
            await session.api.add_alias(alias, room_id, action=_("Adding the address"))
        except errors.MatrixError as exc:
            if exc.status == 409 or exc.errcode == "M_ROOM_IN_USE":
                message = _("The address %(alias)s is already taken. Choose another one.") % {
                    "alias": alias
                }
            else:
                message = exc.message
            return await _refused(request, room, "alias", message, kept)
        messages.success(request, _("Added the address %(alias)s.") % {"alias": alias})
        return HttpResponseRedirect(_settings_url(room))

    alias = request.POST.get("alias", "").strip()[: MAX_ALIAS * 2]
    if action not in ("main", "publish", "unpublish", "delete") or (
        alias and not is_valid_room_alias(alias)
    ):
        return await _refused(request, room, "addresses", _("Choose an address and what to do."))
    if not alias and action != "main":
        return await _refused(request, room, "addresses", _("Choose an address."))
    try:
        if action == "delete":
            if not alias.endswith(f":{server}"):
                return await _refused(
                    request,
                    room,
                    "addresses",
                    _("Only %(server)s can remove %(alias)s.")
                    % {"server": alias.rsplit(":", 1)[-1], "alias": alias},
                )
            require_confirmation(
                request,
                _("Remove the address %(alias)s?") % {"alias": alias},
                _("Remove the address"),
            )
            await session.api.remove_alias(alias, action=_("Removing the address"))
            done = _("Removed the address %(alias)s.") % {"alias": alias}
        elif action == "main":
            await _set_canonical(
                session,
                room_id,
                lambda main, published: (alias, published),
                _("Choosing the main address"),
            )
            done = (
                _("The main address is now %(alias)s.") % {"alias": alias}
                if alias
                else _("The room has no main address.")
            )
        elif action == "publish":
            await _set_canonical(
                session,
                room_id,
                lambda main, published: (main, [*published, alias]),
                _("Publishing the address"),
            )
            done = _("Published %(alias)s.") % {"alias": alias}
        else:
            await _set_canonical(
                session,
                room_id,
                lambda main, published: (
                    "" if main == alias else main,
                    [a for a in published if a != alias],
                ),
                _("Unpublishing the address"),
            )
            done = _("%(alias)s is no longer published.") % {"alias": alias}
    except errors.MatrixError as exc:
        return await _refused(request, room, "addresses", exc.message)
    if action in ("main", "unpublish", "delete"):
        # The room's name may come from its main address: let the sync loop catch up.
        try:
            canonical = await _state(session, room_id, "m.room.canonical_alias")
        except errors.MatrixError:
            pass  # done all the same; the page will say what it can
        else:
            wanted = canonical_parts(canonical)[0] or None
            await session.wait_until(
                room_id, lambda s: s is None or s.canonical_alias == wanted, ROOM_SYNC_WAIT
            )
    messages.success(request, done)
    return HttpResponseRedirect(_settings_url(room))


@require_POST
@matrix_login_required
async def access_view(request: HttpRequest, room: str) -> HttpResponse:
    """`field` (join_rule, history_visibility or guest_access) and its new value."""
    field = request.POST.get("field", "")
    if field not in ACCESS_FIELDS:
        return HttpResponseRedirect(_settings_url(room))
    event_type, key, choices, what, _label = ACCESS_FIELDS[field]
    value = request.POST.get(field, "")[:100]
    kept = {field: value}
    found = await _joined(request, room)
    session, room_id = found.session, found.room_id
    try:
        content = dict(await _state(session, room_id, event_type) or {})
    except errors.MatrixError as exc:
        return await _refused(request, room, field, exc.message, kept)
    if content.get(key) == value:
        messages.info(request, _("Nothing to change: %(what)s stays as it was.") % {"what": what})
        return HttpResponseRedirect(_settings_url(room))
    if field == "join_rule":
        create = await session.create_event(room_id)
        version = str(((create or {}).get("content") or {}).get("room_version", "1"))
        allowed = dict(join_rule_choices(version, ""))
        if value not in allowed:
            return await _refused(
                request,
                room,
                field,
                _("Choose one of: %(choices)s.")
                % {"choices": ", ".join(str(label) for label in allowed.values())},
                kept,
            )
        content = {"join_rule": value}  # `allow` belongs to the restricted rules only
    elif value not in choices:
        return await _refused(
            request,
            room,
            field,
            _("Choose one of: %(choices)s.")
            % {"choices": ", ".join(str(label) for label in choices.values())},
            kept,
        )
    else:
        content[key] = value
    try:
        await session.api.put_state(
            room_id, event_type, content, action=_("Changing %(what)s") % {"what": what}
        )
    except errors.MatrixError as exc:
        return await _refused(request, room, field, exc.message, kept)
    label = (JOIN_RULES if field == "join_rule" else choices)[value]
    messages.success(request, _("Changed %(what)s: %(label)s.") % {"what": what, "label": label})
    return HttpResponseRedirect(_settings_url(room))


def check_level_change(
    actor: str,
    target: str,
    new: int,
    levels: dict[str, Any] | None,
    create: dict[str, Any] | None,
) -> str:
    """Why the spec's power-level rules refuse `actor` giving `target` level `new` ("" when
    they allow it): nobody rises above the actor, nobody at or above the actor (but the actor)
    is changed, and a version 12 room's creators are not in the power levels at all."""
    if target in _creators(create):
        return _(
            "%(target)s created this room: a creator's power is unlimited and cannot change."
        ) % {"target": target}
    own = power_of(actor, levels, create)
    if new > own:
        return _("You cannot give a power level above your own (%(own)s); %(new)s is.") % {
            "own": _shown_level(own),
            "new": new,
        }
    theirs = power_of(target, levels, create)
    if target != actor and theirs >= own:
        return _(
            "%(target)s has power level %(theirs)s, at or above yours (%(own)s): you "
            "cannot change it."
        ) % {"target": target, "theirs": _shown_level(theirs), "own": _shown_level(own)}
    return ""


@require_POST
@matrix_login_required
async def power_view(request: HttpRequest, room: str) -> HttpResponse:
    """`user`, and `level` (a preset number or "custom" with `custom_level`)."""
    form = PowerLevelForm(request.POST)
    kept = {
        "power_user": request.POST.get("user", "").strip()[:300],
        "power_level": request.POST.get("level", "")[:30],
        "power_custom": request.POST.get("custom_level", "")[:30],
    }
    if not form.is_valid():
        return await _refused(request, room, "power", first_error(form), kept)
    user_id, new = form.cleaned_data["user"], form.cleaned_data["new_level"]
    found = await _joined(request, room)
    session, room_id = found.session, found.room_id
    try:
        levels, create = await asyncio.gather(
            _state(session, room_id, "m.room.power_levels"), session.create_event(room_id)
        )
    except errors.MatrixError as exc:
        return await _refused(request, room, "power", exc.message, kept)
    problem = check_level_change(session.user_id, user_id, new, levels, create)
    if problem:
        return await _refused(request, room, "power", problem, kept)
    content = dict(levels or {})
    users = content.get("users")
    users = dict(users) if isinstance(users, dict) else {}
    before = dict(users)
    if new == level(content.get("users_default"), 0):
        users.pop(user_id, None)
    else:
        users[user_id] = new
    if users == before and levels is not None:
        messages.info(
            request,
            _("Nothing to change: %(user_id)s already has power level %(new)s.")
            % {"user_id": user_id, "new": new},
        )
        return HttpResponseRedirect(_settings_url(room))
    content["users"] = users
    try:
        await session.api.put_state(
            room_id,
            "m.room.power_levels",
            content,
            action=_("Changing the power level of %(id)s") % {"id": user_id},
        )
    except errors.MatrixError as exc:
        return await _refused(request, room, "power", exc.message, kept)
    await session.wait_until(
        room_id, lambda s: s is None or (s.power_levels or {}).get("users") == users, ROOM_SYNC_WAIT
    )
    messages.success(
        request, _("%(user_id)s now has power level %(new)s.") % {"user_id": user_id, "new": new}
    )
    return HttpResponseRedirect(_settings_url(room))


# -- the page ------------------------------------------------------------------------------------


async def left_membership(session: DeviceHandle, room_id: str) -> str | None:
    """Our membership of a room the sync no longer lists ("leave", "ban"), or None."""
    try:
        content = await session.api.get_state(room_id, "m.room.member", session.user_id)
    except errors.MatrixError:
        return None
    membership = content.get("membership")
    return membership if membership in ("leave", "ban") else None


async def left_room_name(session: DeviceHandle, room_id: str) -> str:
    try:
        content = await session.api.get_state(room_id, "m.room.name")
    except errors.MatrixError:
        return room_id
    name = content.get("name")
    return name.strip() if isinstance(name, str) and name.strip() else room_id


def _embed_context(request: HttpRequest, room_id: str) -> dict[str, Any]:
    """What "Embed this room" (rooms/_settings_embed.html) needs to write its snippet."""
    return {
        "embed_url": request.build_absolute_uri(reverse("rooms:embed", args=[room_id])),
        "origins": embed_origins(),
        "display": bool(settings.EMBED_DISPLAY_ACCESS_TOKEN),
        "cross_site_cookie": settings.EMBED_CROSS_SITE_COOKIE,
    }


async def settings_page(
    request: HttpRequest,
    room: str,
    *,
    mode: str = "settings",
    values: dict[str, str] | None = None,
    field_errors: dict[str, str] | None = None,
    status: int = 200,
) -> HttpResponse:
    """The settings page (`mode` "settings"), the leave confirmation ("leave"), or, for a
    room the user has left, what remains: its name and Forget ("left")."""
    found = await access_room(request, room, membership=None)
    session, room_id, summary = found.session, found.room_id, found.summary
    context: dict[str, Any] = {
        "room_id": room_id,
        "field_errors": field_errors or {},
        "error": (field_errors or {}).get("forget", ""),
    }
    if summary is not None and summary.membership == "invite":
        return HttpResponseRedirect(reverse("rooms:invitation", args=[room_id]))
    if summary is None:
        membership = await left_membership(session, room_id)
        if membership is None:
            raise NotInRoom()
        context.update(
            {
                "mode": "left",
                "membership": membership,
                "room_name": await left_room_name(session, room_id),
            }
        )
        return render(request, "rooms/settings.html", context, status=status)
    try:
        levels, create, join_rules = await asyncio.gather(
            _state(session, room_id, "m.room.power_levels"),
            session.create_event(room_id),
            _state(session, room_id, "m.room.join_rules"),
        )
    except errors.MatrixError as exc:
        levels, create, join_rules = None, None, None
        context["load_error"] = exc.message
    create_content = (create or {}).get("content") or {}
    own_power = power_of(session.user_id, levels, create)
    join_rule = (join_rules or {}).get("join_rule", "invite")
    alone = summary.joined_count <= 1 and not summary.invited_count
    server = own_server(session.user_id)
    share = summary.canonical_alias or room_id
    share_link = f"https://matrix.to/#/{quote(share, safe='!#:@')}"
    if not summary.canonical_alias and server:
        share_link += "?" + urlencode({"via": server})
    shown = values or {}
    successor = summary.tombstone_replacement
    context.update(
        {
            "mode": mode,
            "room_name": found.name,
            "room_version": str(create_content.get("room_version", "1")),
            "alias": summary.canonical_alias or "",
            "share_link": share_link,
            "join_rule": join_rule if isinstance(join_rule, str) else "invite",
            "tombstone": successor or "",
            "tombstone_joined": bool(
                successor and (s := session.room(successor)) and s.membership == "join"
            ),
            "tombstone_via": server,
            "name_value": shown.get("name", summary.name or ""),
            "topic_value": shown.get("topic", summary.topic or ""),
            "may_name": own_power >= _needed_for(levels, "m.room.name"),
            "may_topic": own_power >= _needed_for(levels, "m.room.topic"),
            "need_name": _needed_for(levels, "m.room.name"),
            "need_topic": _needed_for(levels, "m.room.topic"),
            "own_power": "creator" if own_power == float("inf") else int(own_power),
            "alone": alone,
            "max_name": MAX_NAME,
            "max_topic": MAX_TOPIC,
        }
    )
    if mode == "settings":
        context["embed"] = _embed_context(request, room_id)
        context["url_previews_on"] = await previews.enabled(session, summary)
        context["encrypted"] = summary.encrypted
    if mode == "settings" and "load_error" not in context:
        try:
            context.update(
                await settings_context(
                    session, room_id, summary, levels, create, values, field_errors
                )
            )
        except errors.MatrixError as exc:
            context["load_error"] = exc.message
    return render(request, "rooms/settings.html", context, status=status)


class NameTopicForm(forms.Form):
    field = forms.ChoiceField(choices=[("name", "name"), ("topic", "topic")])
    name = forms.CharField(required=False, max_length=MAX_TOPIC * 2, strip=False)
    topic = forms.CharField(required=False, max_length=MAX_TOPIC * 2, strip=False)

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        field = data.get("field")
        if field:
            value = (data.get(field) or "").strip()
            limit = MAX_NAME if field == "name" else MAX_TOPIC
            if len(value) > limit:
                self.add_error(
                    field,
                    _("That is too long (at most %(n)d characters).") % {"n": limit},
                )
            data["value"] = value
        return data


@matrix_login_required
async def settings_view(request: HttpRequest, room: str) -> HttpResponse:
    """The room's settings; POST changes its name (`field=name`) or topic (`field=topic`)."""
    if request.method != "POST":
        return await settings_page(request, room)
    form = NameTopicForm(request.POST)
    if not form.is_valid() and "field" in form.errors:
        return HttpResponseRedirect(_settings_url(room))
    field = request.POST["field"]
    typed = request.POST.get(field, "")[: MAX_TOPIC * 2]
    if not form.is_valid():
        return await _refused(request, room, field, first_error(form), {field: typed})
    found = await access_room(request, room, membership=None)
    session, room_id, summary = found.session, found.room_id, found.summary
    if summary is None or summary.membership != "join":
        return await settings_page(request, room)
    value = form.cleaned_data["value"]
    try:
        await session.api.put_state(
            room_id,
            f"m.room.{field}",
            {field: value},
            action=_("Changing the room's name") if field == "name" else _("Changing the topic"),
        )
    except errors.MatrixError as exc:
        return await _refused(request, room, field, exc.message, {field: typed})
    wanted = value or None
    await session.wait_until(
        room_id, lambda s: s is None or getattr(s, field) == wanted, ROOM_SYNC_WAIT
    )
    messages.success(request, f"Room {field} changed." if wanted else f"Room {field} removed.")
    return HttpResponseRedirect(_settings_url(room))
