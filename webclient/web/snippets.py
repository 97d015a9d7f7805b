"""Ready-to-paste settings for automation tools that post to a Matrix room.

Each tool needs the same three things (see the README, "Connecting automations"): the
homeserver's client-server base URL, an access token, and the room ID. The token is the
automation device's token right after it was created, and `PLACEHOLDER` otherwise; it is never
the browser session's own token.

- n8n: the "Matrix API" credential has two fields, Access Token and Homeserver URL.
- Windmill: a `matrix` resource, `{"baseUrl": ..., "token": ...}`.
- Netdata: the Matrix block of `health_alarm_notify.conf`. Its `alarm-notify.sh` (`send_matrix`)
  sources that file and, per room in `DEFAULT_RECIPIENT_MATRIX`, sends
  `PUT $MATRIX_HOMESERVER/_matrix/client/r0/rooms/<urlencoded room>/send/m.room.message/<txn>`
  with `Authorization: Bearer $MATRIX_ACCESSTOKEN`.
- curl: one test message, the same request by hand.
"""

from __future__ import annotations

import json
import shlex
from urllib.parse import quote

PLACEHOLDER = "<ACCESS_TOKEN>"
TEST_MESSAGE = "Test message from webclient: this automation can post here."


def base_url(homeserver: str) -> str:
    return homeserver.rstrip("/")


def n8n(homeserver: str, token: str) -> list[tuple[str, str]]:
    """The fields of n8n's Matrix credential, in its order."""
    return [("Access Token", token), ("Homeserver URL", base_url(homeserver))]


def windmill(homeserver: str, token: str) -> str:
    """Windmill's `matrix` resource as JSON."""
    return json.dumps({"baseUrl": base_url(homeserver), "token": token}, indent=2)


def _conf_value(value: str) -> str:
    """A value for a double-quoted shell assignment (the file is sourced by bash)."""
    escaped = "".join("\\" + c if c in '\\"$`' else c for c in value)
    return f'"{escaped}"'


def netdata(homeserver: str, token: str, room_id: str, device_name: str = "") -> str:
    """The Matrix section of Netdata's `health_alarm_notify.conf`."""
    whose = f' (the device "{device_name}")' if device_name else ""
    token_note = (
        "# Replace <ACCESS_TOKEN> with the token of an automation device.\n"
        if token == PLACEHOLDER
        else ""
    )
    lines = [
        "###############################################################################",
        "# Matrix notifications",
        "#",
        "",
        "# enable/disable Matrix notifications",
        "SEND_MATRIX=" + _conf_value("YES"),
        "",
        "# The url of the Matrix homeserver",
        "MATRIX_HOMESERVER=" + _conf_value(base_url(homeserver)),
        "",
        f"# An access token of a separate device{whose}; revoke it in the web client's",
        "# Settings > Advanced > Tokens for automations.",
        token_note + "MATRIX_ACCESSTOKEN=" + _conf_value(token),
        "",
        "# The room that receives the notifications (several: separate them with spaces).",
        "DEFAULT_RECIPIENT_MATRIX=" + _conf_value(room_id),
    ]
    return "\n".join(lines) + "\n"


def send_path(room_id: str, txn_id: str) -> str:
    return (
        f"/_matrix/client/v3/rooms/{quote(room_id, safe='')}/send/m.room.message/"
        f"{quote(txn_id, safe='')}"
    )


def curl(homeserver: str, token: str, room_id: str, txn_prefix: str) -> str:
    """A POSIX shell command that posts `TEST_MESSAGE` to the room.

    The transaction ID ends in the current time, so running the command again posts again
    (the homeserver ignores a repeated transaction ID of the same device).
    """
    url = base_url(homeserver) + send_path(room_id, txn_prefix)
    body = json.dumps({"msgtype": "m.text", "body": TEST_MESSAGE})
    return (
        "curl -sS -X PUT \\\n"
        f"  -H {shlex.quote('Authorization: Bearer ' + token)} \\\n"
        "  -H 'Content-Type: application/json' \\\n"
        f"  --data {shlex.quote(body)} \\\n"
        f'  {shlex.quote(url)}"-$(date +%s)"'
    )


def all_for_room(homeserver: str, token: str, room_id: str, txn_prefix: str, device_name: str):  # noqa: ANN201
    """Every snippet for one room, for the integrations page."""
    return {
        "n8n": n8n(homeserver, token),
        "windmill": windmill(homeserver, token),
        "netdata": netdata(homeserver, token, room_id, device_name),
        "curl": curl(homeserver, token, room_id, txn_prefix),
    }
