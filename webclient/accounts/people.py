"""Someone's profile, with Start a DM and Ignore / Unignore (the account's
`m.ignored_user_list`: ignored people's messages and invites are hidden on every device)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import NoReverseMatch, reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from webclient.live.devices import DeviceHandle
from webclient.matrix import errors
from webclient.matrix.names import valid_user_id
from webclient.web.auth import matrix_login_required
from webclient.web.rooms import session_of

from .profile import profile_view_model

IGNORED = "m.ignored_user_list"


def dm_url(user_id: str) -> str:
    """The "Start a DM" page for a user (`/rooms/dm/?user=`)."""
    try:
        base = reverse("rooms:dm")
    except NoReverseMatch:
        base = reverse("rooms:list") + "dm/"
    return f"{base}?{urlencode({'user': user_id})}"


async def ignored_users(session: DeviceHandle) -> dict[str, Any]:
    """The whole `m.ignored_user_list` content (an empty list when there is none yet)."""
    try:
        content = await session.api.account_data(
            session.user_id, IGNORED, action=_("Loading the people you ignore")
        )
    except errors.NotFound:
        return {"ignored_users": {}}
    if not isinstance(content.get("ignored_users"), dict):
        content["ignored_users"] = {}
    return content


async def set_ignored(session: DeviceHandle, user_id: str, ignore: bool) -> None:
    """Add `user_id` to the ignore list (or take them off), keeping the rest of it."""
    content = await ignored_users(session)
    users = content["ignored_users"]
    if ignore:
        users[user_id] = users.get(user_id) if isinstance(users.get(user_id), dict) else {}
    else:
        users.pop(user_id, None)
    await session.api.set_account_data(
        session.user_id,
        IGNORED,
        content,
        action=(_("Ignoring %(id)s") if ignore else _("No longer ignoring %(id)s"))
        % {"id": user_id},
    )


def _user_error(request: HttpRequest, user_id: str, message: str, status: int) -> HttpResponse:
    context = {"user_id": user_id, "not_found": status == 404, "error": message}
    return render(request, "accounts/user.html", context, status=status)


@require_http_methods(["GET", "POST"])
@matrix_login_required
async def user_view(request: HttpRequest, user_id: str) -> HttpResponse:
    """Someone's profile, with Start a DM and Ignore / Unignore."""
    if not valid_user_id(user_id):
        return _user_error(
            request,
            user_id,
            _("“%(user_id)s” is not a Matrix user ID. A user ID looks like @alice:example.org.")
            % {"user_id": user_id},
            404,
        )
    session = await session_of(request)
    action_error = ""
    status = 200
    if request.method == "POST" and user_id != session.user_id:
        choice = request.POST.get("ignore")
        if choice in {"1", "0"}:
            try:
                await set_ignored(session, user_id, choice == "1")
            except errors.MatrixError as exc:
                action_error, status = exc.message, 400
            else:
                messages.success(
                    request,
                    (
                        _(
                            "You are ignoring %(user_id)s: you will not see their messages "
                            "or invites."
                        )
                        if choice == "1"
                        else _("You are no longer ignoring %(user_id)s.")
                    )
                    % {"user_id": user_id},
                )
                return HttpResponseRedirect(reverse("accounts:user", args=[user_id]))
        else:
            action_error, status = _("Unknown action."), 400
    profile_note = ""
    try:
        profile = await session.api.profile(user_id, action=_("Loading %(id)s") % {"id": user_id})
    except errors.MatrixError as exc:
        if isinstance(exc, errors.NotFound) or exc.status == 404:
            return _user_error(
                request,
                user_id,
                _("There is no user %(user_id)s: their homeserver does not know that ID.")
                % {"user_id": user_id},
                404,
            )
        # A profile only shared with people in the same rooms, or a server out of reach:
        # the page still works with the ID alone.
        profile_note = exc.message
        profile = {}
    ignored = False
    if user_id != session.user_id:
        try:
            ignored = user_id in (await ignored_users(session))["ignored_users"]
        except errors.MatrixError as exc:
            action_error = action_error or exc.message
    context = {
        "user_id": user_id,
        "profile": profile_view_model(user_id, profile),
        "profile_note": profile_note,
        "is_me": user_id == session.user_id,
        "ignored": ignored,
        "dm_url": dm_url(user_id),
        "action_error": action_error,
    }
    return render(request, "accounts/user.html", context, status=status)
