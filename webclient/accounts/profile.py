"""Your profile (display name and avatar), your password, and other people's profiles.

Plain forms, each answered with a redirect on success (so a reload does not send it again) and
the same page with the problem in words on failure.
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import quote, urlencode

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import NoReverseMatch, reverse
from django.views.decorators.http import require_http_methods

from webclient.matrix import errors, registry
from webclient.matrix.session import MatrixSession
from webclient.rooms import uploads
from webclient.rooms.members import valid_user_id
from webclient.rooms.views import _ended
from webclient.timeline.avatars import avatar

from . import uia
from .current import matrix_login_required

logger = logging.getLogger("webclient.accounts")

AVATAR_SIZE = 96
#: Synapse refuses longer display names (`MAX_DISPLAYNAME_LEN`).
MAX_DISPLAY_NAME = 256
#: Pictures a browser shows and that cannot carry script (no SVG).
AVATAR_TYPES = frozenset({"image/jpeg", "image/png", "image/gif", "image/webp"})
IGNORED = "m.ignored_user_list"


def _q(value: str) -> str:
    return quote(value, safe="")


async def get_profile(session: MatrixSession, user_id: str) -> dict[str, Any]:
    """`GET /profile/{userId}` (displayname, avatar_url); raises `MatrixError` (404: no user)."""
    return await session.api("GET", f"/profile/{_q(user_id)}", action=f"Loading {user_id}")


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _profile_view_model(user_id: str, profile: dict[str, Any]) -> dict[str, Any]:
    name = _text(profile.get("displayname")).strip()
    mxc = _text(profile.get("avatar_url"))
    return {
        "user_id": user_id,
        "display_name": name,
        "name": name or user_id,
        "avatar_url": mxc,
        "avatar": avatar(user_id, name or user_id, mxc or None, AVATAR_SIZE),
    }


# -- your profile ------------------------------------------------------------------------------


async def _profile_page(
    request: HttpRequest,
    session: MatrixSession,
    *,
    name_value: str | None = None,
    name_error: str = "",
    avatar_error: str = "",
    status: int = 200,
) -> HttpResponse:
    context: dict[str, Any] = {
        "credential": request.credential,
        "name_error": name_error,
        "avatar_error": avatar_error,
        "max_display_name": MAX_DISPLAY_NAME,
    }
    try:
        profile = await get_profile(session, session.user_id)
    except errors.MatrixError as exc:
        if exc.is_unknown_token:
            return _ended(request)
        if exc.status != 404:
            # Nothing set yet is a 404 on some servers; anything else is worth saying.
            context["load_error"] = exc.message
        profile = {}
    context["profile"] = _profile_view_model(session.user_id, profile)
    context["name_value"] = (
        name_value if name_value is not None else context["profile"]["display_name"]
    )
    return render(request, "accounts/profile.html", context, status=status)


@require_http_methods(["GET", "POST"])
@matrix_login_required
async def profile_view(request: HttpRequest) -> HttpResponse:
    session = await registry.session_for(request.credential)
    if request.method == "GET":
        return await _profile_page(request, session)
    form = request.POST.get("form", "")
    if form == "displayname":
        return await _set_display_name(request, session)
    if form == "avatar":
        return await _set_avatar(request, session)
    if form == "remove_avatar":
        return await _remove_avatar(request, session)
    return await _profile_page(request, session, name_error="Unknown form.", status=400)


async def _set_display_name(request: HttpRequest, session: MatrixSession) -> HttpResponse:
    value = request.POST.get("displayname", "")[:2000]
    name = value.strip()
    problem = ""
    if not name:
        problem = "Enter a display name."
    elif len(name) > MAX_DISPLAY_NAME:
        problem = f"A display name can be at most {MAX_DISPLAY_NAME} characters long."
    if problem:
        return await _profile_page(
            request, session, name_value=value, name_error=problem, status=400
        )
    try:
        await session.api(
            "PUT",
            f"/profile/{_q(session.user_id)}/displayname",
            body={"displayname": name},
            action="Changing your display name",
        )
    except errors.MatrixError as exc:
        if exc.is_unknown_token:
            return _ended(request)
        return await _profile_page(
            request, session, name_value=value, name_error=exc.message, status=400
        )
    messages.success(request, f"Your display name is now “{name}”.")
    return HttpResponseRedirect(reverse("accounts:profile"))


async def _set_avatar(request: HttpRequest, session: MatrixSession) -> HttpResponse:
    uploaded = request.FILES.get("avatar")
    problem = ""
    if uploaded is None or not uploaded.size:
        problem = "Choose a picture to upload."
    else:
        mimetype = (uploaded.content_type or "").split(";")[0].strip().lower()
        if mimetype not in AVATAR_TYPES or uploads._image_size(uploaded) is None:
            problem = "That file is not a picture this client accepts (JPEG, PNG, GIF or WebP)."
    if problem:
        return await _profile_page(request, session, avatar_error=problem, status=400)
    try:
        mxc = await uploads.upload(session, uploaded)
        await session.api(
            "PUT",
            f"/profile/{_q(session.user_id)}/avatar_url",
            body={"avatar_url": mxc},
            action="Setting your avatar",
        )
    except errors.MatrixError as exc:
        if exc.is_unknown_token:
            return _ended(request)
        return await _profile_page(request, session, avatar_error=exc.message, status=400)
    messages.success(request, "Your avatar has been changed.")
    return HttpResponseRedirect(reverse("accounts:profile"))


async def _remove_avatar(request: HttpRequest, session: MatrixSession) -> HttpResponse:
    try:
        await session.api(
            "PUT",
            f"/profile/{_q(session.user_id)}/avatar_url",
            body={"avatar_url": ""},
            action="Removing your avatar",
        )
    except errors.MatrixError as exc:
        if exc.is_unknown_token:
            return _ended(request)
        return await _profile_page(request, session, avatar_error=exc.message, status=400)
    messages.success(request, "Your avatar has been removed.")
    return HttpResponseRedirect(reverse("accounts:profile"))


# -- your password -----------------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
@matrix_login_required
async def password_view(request: HttpRequest) -> HttpResponse:
    """`POST /account/password` with the current password as the UIA stage; other devices
    (and this one) stay signed in (`logout_devices: false`)."""
    context: dict[str, Any] = {"credential": request.credential, "error": ""}
    if request.method == "GET":
        return render(request, "accounts/password.html", context)
    current = request.POST.get("current_password", "")
    new = request.POST.get("new_password", "")
    again = request.POST.get("new_password_again", "")
    problem = ""
    if not current:
        problem = "Enter your current password."
    elif not new:
        problem = "Enter a new password."
    elif new != again:
        problem = "The two new passwords are not the same."
    if problem:
        context["error"] = problem
        return render(request, "accounts/password.html", context, status=400)
    session = await registry.session_for(request.credential)
    try:
        await uia.with_password(
            session,
            "POST",
            "/account/password",
            {"new_password": new, "logout_devices": False},
            current,
            action="Changing your password",
        )
    except errors.MatrixError as exc:
        if exc.is_unknown_token:
            return _ended(request)
        context["error"] = exc.message
        status = 429 if exc.is_rate_limit else 400
        return render(request, "accounts/password.html", context, status=status)
    logger.info("password changed for %s", session.user_id)
    messages.success(
        request, "Your password has been changed. Your devices, this one included, stay signed in."
    )
    return HttpResponseRedirect(reverse("accounts:password"))


# -- other people ------------------------------------------------------------------------------


def dm_url(user_id: str) -> str:
    """The "Start a DM" page for a user (`/rooms/dm/?user=`)."""
    try:
        base = reverse("rooms:dm")
    except NoReverseMatch:
        base = reverse("rooms:list") + "dm/"
    return f"{base}?{urlencode({'user': user_id})}"


async def ignored_users(session: MatrixSession) -> dict[str, Any]:
    """The whole `m.ignored_user_list` content (an empty list when there is none yet)."""
    try:
        content = await session.api(
            "GET",
            f"/user/{_q(session.user_id)}/account_data/{IGNORED}",
            action="Loading the people you ignore",
        )
    except errors.MatrixError as exc:
        if exc.errcode == "M_NOT_FOUND":
            return {"ignored_users": {}}
        raise
    if not isinstance(content.get("ignored_users"), dict):
        content["ignored_users"] = {}
    return content


async def set_ignored(session: MatrixSession, user_id: str, ignore: bool) -> None:
    content = await ignored_users(session)
    users = content["ignored_users"]
    if ignore:
        users[user_id] = users.get(user_id) if isinstance(users.get(user_id), dict) else {}
    else:
        users.pop(user_id, None)
    await session.api(
        "PUT",
        f"/user/{_q(session.user_id)}/account_data/{IGNORED}",
        body=content,
        action=f"{'Ignoring' if ignore else 'No longer ignoring'} {user_id}",
    )


def _user_error(request: HttpRequest, user_id: str, message: str, status: int) -> HttpResponse:
    context = {
        "credential": request.credential,
        "user_id": user_id,
        "not_found": status == 404,
        "error": message,
    }
    return render(request, "accounts/user.html", context, status=status)


@require_http_methods(["GET", "POST"])
@matrix_login_required
async def user_view(request: HttpRequest, user_id: str) -> HttpResponse:
    """Someone's profile, with Start a DM and Ignore / Unignore."""
    if not valid_user_id(user_id):
        return _user_error(
            request,
            user_id,
            f"“{user_id}” is not a Matrix user ID. A user ID looks like @alice:example.org.",
            404,
        )
    session = await registry.session_for(request.credential)
    action_error = ""
    status = 200
    if request.method == "POST" and user_id != session.user_id:
        choice = request.POST.get("ignore")
        if choice in {"1", "0"}:
            try:
                await set_ignored(session, user_id, choice == "1")
            except errors.MatrixError as exc:
                if exc.is_unknown_token:
                    return _ended(request)
                action_error, status = exc.message, 400
            else:
                messages.success(
                    request,
                    f"You are ignoring {user_id}: you will not see their messages or invites."
                    if choice == "1"
                    else f"You are no longer ignoring {user_id}.",
                )
                return HttpResponseRedirect(reverse("accounts:user", args=[user_id]))
        else:
            action_error, status = "Unknown action.", 400
    profile_note = ""
    try:
        profile = await get_profile(session, user_id)
    except errors.MatrixError as exc:
        if exc.is_unknown_token:
            return _ended(request)
        if exc.status == 404 or exc.errcode == "M_NOT_FOUND":
            return _user_error(
                request,
                user_id,
                f"There is no user {user_id}: their homeserver does not know that ID.",
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
            if exc.is_unknown_token:
                return _ended(request)
            action_error = action_error or exc.message
    context = {
        "credential": request.credential,
        "user_id": user_id,
        "profile": _profile_view_model(user_id, profile),
        "profile_note": profile_note,
        "is_me": user_id == session.user_id,
        "ignored": ignored,
        "dm_url": dm_url(user_id),
        "action_error": action_error,
    }
    return render(request, "accounts/user.html", context, status=status)
