"""The sessions of this process, one per Matrix device.

This is the one piece of per-process state the design allows; everything else goes through
the database or the channel layer. Each session is handed the publisher named by
`settings.MATRIX_SESSION_PUBLISHER` (a dotted path, so this layer imports nothing above it).
"""

from __future__ import annotations

from django.conf import settings
from django.utils.module_loading import import_string

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
        publisher = import_string(settings.MATRIX_SESSION_PUBLISHER)
        session = MatrixSession(credential, on_stop=_forget, publisher=publisher)
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
