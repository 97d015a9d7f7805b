"""Writing in a room without JavaScript (with it, the same actions go over the websocket):
the composer's form (text, a reply, a thread message, or a file with a caption), and a small
page per message action (react, edit, delete, vote in a poll, end a poll, pin, unpin), since
the shared tile fragments cannot carry a per-session CSRF token and link here instead."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from webclient.live import actions
from webclient.live.devices import device_op
from webclient.matrix import errors
from webclient.matrix.api import new_txn_id
from webclient.matrix.names import member_display_name
from webclient.matrix.roomstate import message_preview
from webclient.matrix.session import MatrixSession
from webclient.timeline import emoji
from webclient.web.auth import matrix_login_required
from webclient.web.errors import wants_json
from webclient.web.rooms import session_of
from webclient.web.uploads import message_for_file, upload_to_room

from .emoji import recent_keys
from .reading import room_page, thread_page

MAX_KEY = 64


def _txn_id(value: str, prefix: str = "wc") -> str:
    """The page's transaction ID when it is one; a new one otherwise."""
    return value if value.isalnum() and len(value) <= 64 else new_txn_id(prefix)


class SendForm(forms.Form):
    body = forms.CharField(required=False, strip=False)
    txn_id = forms.CharField(required=False)
    reply_to = forms.CharField(required=False)
    thread_id = forms.CharField(required=False)
    file = forms.FileField(required=False)


@require_POST
@matrix_login_required
async def send_view(request: HttpRequest, room: str) -> HttpResponse:
    """The composer's form: text, or a file with an optional caption.

    Without JavaScript it answers with the room page (or the error and the draft kept); the
    upload script asks for JSON instead.
    """
    form = SendForm(request.POST, request.FILES)
    form.is_valid()  # every field is optional: what is there is cleaned
    data = form.cleaned_data
    body, uploaded = data.get("body") or "", data.get("file")
    reply_to, thread_id = data.get("reply_to") or "", data.get("thread_id") or ""
    txn_id = _txn_id(data.get("txn_id") or "")
    if not body.strip() and uploaded is None:
        if wants_json(request):
            return JsonResponse({"ok": False, "error": _("Nothing to send.")}, status=400)
        return HttpResponseRedirect(reverse("rooms:room", args=[room]))
    session = await session_of(request)
    try:
        room_id = await session.resolve(room)
        if uploaded is not None:
            content_uri, encrypted = await upload_to_room(session, room_id, uploaded)
            content = message_for_file(uploaded, content_uri, caption=body, encrypted=encrypted)
            event_id = await session.send_message(room_id, content, txn_id)
        else:
            done = await actions.run_command_on(session, room_id, body)
            if done is not None:
                return _after_command(request, room_id, done)
            event_id = await session.run(
                actions.send_text,
                room_id=room_id,
                text=body,
                txn_id=txn_id,
                reply_to=reply_to or None,
                thread_id=thread_id or None,
            )
    except errors.MatrixError as exc:
        if wants_json(request):
            status = 413 if exc.errcode == "M_TOO_LARGE" else 400
            return JsonResponse({"ok": False, "error": exc.message, "retry": True}, status=status)
        # Same transaction ID on the re-rendered form: sending again cannot post twice.
        error = _("Not sent: %(error)s") % {"error": exc.message}
        if thread_id:
            return await thread_page(
                request, room, thread_id, draft=body, send_error=error, txn_id=txn_id
            )
        return await room_page(
            request,
            room,
            draft=body,
            send_error=error,
            txn_id=txn_id,
            reply_to=reply_to or None,
        )
    if wants_json(request):
        return JsonResponse({"ok": True, "event_id": event_id, "txn_id": txn_id})
    if thread_id:
        return HttpResponseRedirect(reverse("rooms:thread", args=[room, thread_id]) + "#composer")
    return HttpResponseRedirect(reverse("rooms:room", args=[room]) + "#composer")


def _after_command(request: HttpRequest, room_id: str, done: actions.CommandResult) -> HttpResponse:
    """Where a command that acts leaves the page: the joined room, the room list after
    leaving, the commands' help, or the room with a sentence saying what happened."""
    if wants_json(request):
        return JsonResponse({"ok": True, "message": done.message, "help": done.help})
    if done.message:
        messages.info(request, done.message)
    if done.open_room:
        return HttpResponseRedirect(reverse("rooms:room", args=[done.open_room]))
    if done.left:
        return HttpResponseRedirect(reverse("rooms:list"))
    if done.help:
        return HttpResponseRedirect(reverse("rooms:room", args=[room_id]) + "?help=1#commands")
    return HttpResponseRedirect(reverse("rooms:room", args=[room_id]) + "#composer")


# -- message actions without JavaScript --------------------------------------------------------


async def _action_page(
    request: HttpRequest, room_id: str, event_id: str, action: str, **extra: Any
) -> HttpResponse:
    session = await session_of(request)
    context: dict[str, Any] = {"room_id": room_id, "event_id": event_id, "action": action, **extra}
    try:
        event = await session.event(room_id, event_id)
        sender = str(event.get("sender", ""))
        content = event.get("content") if isinstance(event.get("content"), dict) else {}
        name = member_display_name(sender, session.members(room_id))
        context["sender_name"] = name
        context["preview"] = message_preview(content, name)[:300]
    except errors.MatrixError as exc:
        context.setdefault("error", exc.message)
    status = 400 if context.get("error") else 200
    return render(request, "rooms/action.html", context, status=status)


def _back(room_id: str) -> HttpResponseRedirect:
    return HttpResponseRedirect(reverse("rooms:room", args=[room_id]) + "#composer")


async def _react_page(
    request: HttpRequest, room: str, event_id: str, key: str, error: str = ""
) -> HttpResponse:
    """The picker as a form: recently used, search (`?q=`), one group at a time (`?group=`)."""
    session = await session_of(request)
    query = request.GET.get("q", "").strip()[:100]
    groups = emoji.picker_groups()
    shown = next((g for g in groups if g["id"] == request.GET.get("group")), groups[0])
    recent = [emoji.describe(k) for k in await recent_keys(session)]
    quick = [emoji.describe(k) for k in emoji.QUICK if k not in {r["key"] for r in recent}]
    return await _action_page(
        request,
        room,
        event_id,
        "react",
        key=key,
        error=error,
        query=query,
        results=emoji.search(query) if query else None,
        groups=groups,
        group=shown,
        recent=recent,
        quick=quick[: max(0, len(emoji.QUICK) - len(recent))] if recent else quick,
    )


@matrix_login_required
async def react_view(request: HttpRequest, room: str, event_id: str) -> HttpResponse:
    key = (request.POST.get("key") or request.GET.get("key") or "").strip()[:MAX_KEY]
    if request.method != "POST" or not key:
        return await _react_page(request, room, event_id, key)
    session = await session_of(request)
    try:
        await session.run(actions.react, room_id=room, event_id=event_id, key=key)
    except errors.MatrixError as exc:
        return await _react_page(request, room, event_id, key, error=exc.message)
    return _back(room)


@matrix_login_required
async def edit_view(request: HttpRequest, room: str, event_id: str) -> HttpResponse:
    session = await session_of(request)
    if request.method != "POST":
        try:
            text = await session.run(actions.editable_text, room_id=room, event_id=event_id)
        except errors.MatrixError as exc:
            return await _action_page(request, room, event_id, "edit", error=exc.message)
        if wants_json(request):
            return JsonResponse({"body": text})
        return await _action_page(
            request, room, event_id, "edit", body=text, txn_id=new_txn_id("wce", 10)
        )
    body = request.POST.get("body", "")
    txn_id = _txn_id(request.POST.get("txn_id", ""), "wce")
    if not body.strip():
        return await _action_page(
            request,
            room,
            event_id,
            "edit",
            body=body,
            txn_id=txn_id,
            error=_("An edit cannot be empty; delete the message instead."),
        )
    try:
        await session.run(actions.edit, room_id=room, event_id=event_id, text=body, txn_id=txn_id)
    except errors.MatrixError as exc:
        return await _action_page(
            request, room, event_id, "edit", body=body, txn_id=txn_id, error=exc.message
        )
    return _back(room)


@matrix_login_required
async def redact_view(request: HttpRequest, room: str, event_id: str) -> HttpResponse:
    if request.method != "POST":
        return await _action_page(request, room, event_id, "delete")
    session = await session_of(request)
    try:
        await session.run(
            actions.redact,
            room_id=room,
            event_id=event_id,
            reason=request.POST.get("reason", "")[:500],
        )
    except errors.MatrixError as exc:
        return await _action_page(request, room, event_id, "delete", error=exc.message)
    return _back(room)


@matrix_login_required
async def vote_view(request: HttpRequest, room: str, event_id: str) -> HttpResponse:
    """Vote in a poll: the answer chosen on the tile, confirmed with a button."""
    answer = (request.POST.get("answer") or request.GET.get("answer") or "")[:200]
    session = await session_of(request)
    context: dict[str, Any] = {"answer": answer}
    try:
        poll = await session.run(poll_summary, room_id=room, poll_id=event_id, answer=answer)
        context.update(question=poll["question"], answer_text=poll["answer_text"])
        if not poll["has_answer"]:
            context["error"] = _("This poll has no such answer.")
        elif poll["ended"]:
            context["error"] = _("This poll has ended.")
    except errors.MatrixError as exc:
        context["error"] = exc.message
    if request.method != "POST" or context.get("error"):
        return await _action_page(request, room, event_id, "vote", **context)
    try:
        await session.run(actions.vote, room_id=room, poll_id=event_id, answer_id=answer)
    except errors.MatrixError as exc:
        return await _action_page(request, room, event_id, "vote", **context, error=exc.message)
    return _back(room)


@matrix_login_required
async def end_poll_view(request: HttpRequest, room: str, event_id: str) -> HttpResponse:
    if request.method != "POST":
        return await _action_page(request, room, event_id, "end poll")
    session = await session_of(request)
    try:
        await session.run(actions.end_poll, room_id=room, poll_id=event_id)
    except errors.MatrixError as exc:
        return await _action_page(request, room, event_id, "end poll", error=exc.message)
    return _back(room)


@matrix_login_required
async def pin_view(request: HttpRequest, room: str, event_id: str) -> HttpResponse:
    """Pin a message to the room, or unpin it (`?unpin=1`), with the power level for it."""
    unpin = bool(request.POST.get("unpin") or request.GET.get("unpin"))
    action = "unpin" if unpin else "pin"
    if request.method != "POST":
        return await _action_page(request, room, event_id, action)
    session = await session_of(request)
    try:
        await session.run(actions.set_pinned, room_id=room, event_id=event_id, pinned=not unpin)
    except errors.MatrixError as exc:
        return await _action_page(request, room, event_id, action, error=exc.message)
    return _back(room)


@device_op(shared=True)
async def poll_summary(
    session: MatrixSession, room_id: str, poll_id: str, answer: str
) -> dict[str, Any]:
    """What the vote page says of a poll (by the device's owner, which counts the votes)."""
    _, poll, result = await actions.poll_and_votes(session, room_id, poll_id)
    return {
        "question": poll.question,
        "answer_text": poll.text_of(answer),
        "has_answer": answer in poll.answer_ids,
        "ended": result.ended,
    }
