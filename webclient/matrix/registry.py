"""The sessions of this process, one per Matrix device.

This is the one piece of per-process state the design allows: a browser session is kept on
one process (sticky by session cookie), and everything else goes through the database or
the channel layer.
"""

from __future__ import annotations

from channels.layers import get_channel_layer

from .models import Credential
from .session import MatrixSession

_sessions: dict[int, MatrixSession] = {}


def _forget(session: MatrixSession) -> None:
    if _sessions.get(session.credential_id) is session:
        del _sessions[session.credential_id]


async def session_for(credential: Credential) -> MatrixSession:
    """The running session of this device, started if there is none."""
    session = _sessions.get(credential.pk)
    if session is None or session.closed:
        session = MatrixSession(credential, on_stop=_forget)
        _sessions[credential.pk] = session
        session.start()
    session.touch()
    return session


def running(credential_id: int) -> MatrixSession | None:
    return _sessions.get(credential_id)


async def stop(credential_id: int) -> None:
    if session := _sessions.get(credential_id):
        await session.stop()


async def stop_all() -> None:
    for session in list(_sessions.values()):
        await session.stop()


async def end_pages(groups: tuple[str, ...], reason: str) -> None:
    """Tell every open page of a login that it ended: tabs go to the login page (with
    `reason`), embeds reload, kiosk screens show the revoked page."""
    layer = get_channel_layer()
    for group in groups:
        await layer.group_send(group, {"type": "session.ended", "reason": reason})
