"""The forms of the room pages: what a person may type, checked before the homeserver is
asked, with the sentences that say what to fix."""

from __future__ import annotations

import re
from typing import Any

from django import forms
from django.utils.translation import gettext as _

from webclient.matrix.names import (  # noqa: F401 - parse_room_reference and via_servers
    SERVER_NAME_RE,
    is_valid_room_alias,
    parse_room_reference,
    valid_user_id,
    via_servers,
)

MAX_INVITEES = 50
MAX_NAME = 255
MAX_TOPIC = 2000
MAX_REFERENCE = 2000
MAX_ALIAS = 255

_SEPARATORS = re.compile(r"[\s,;]+")
ALIAS_LOCALPART = re.compile(r"^[^\s:#@!]+$")


def own_server(user_id: str) -> str:
    return user_id.split(":", 1)[1] if ":" in user_id else ""


# -- parsing what people type ------------------------------------------------------------------


def parse_user_ids(text: str) -> tuple[list[str], list[str]]:
    """A comma or space separated list of user IDs: (valid ones, in order without repeats;
    the pieces that are not user IDs)."""
    valid: list[str] = []
    invalid: list[str] = []
    for piece in _SEPARATORS.split(text.strip()):
        if not piece:
            continue
        if valid_user_id(piece):
            if piece not in valid:
                valid.append(piece)
        else:
            invalid.append(piece)
    return valid, invalid


def parse_localpart(text: str, server: str) -> str | None:
    """The address's local part from `name`, `#name` or `#name:server` (this server), else None."""
    text = text.strip().lstrip("#")
    if server and text.endswith(f":{server}"):
        text = text[: -len(server) - 1]
    if not text or not ALIAS_LOCALPART.match(text):
        return None
    if len(f"#{text}:{server}".encode()) > MAX_ALIAS:
        return None
    return text


# -- forms ---------------------------------------------------------------------------------------


class CreateRoomForm(forms.Form):
    """`/rooms/new/`: a name, a topic, public or private, an address, people to invite."""

    name = forms.CharField(required=False, max_length=MAX_NAME * 2, strip=False)
    topic = forms.CharField(required=False, max_length=MAX_TOPIC * 2, strip=False)
    visibility = forms.CharField(required=False)
    alias = forms.CharField(required=False, max_length=300, strip=False)
    invite = forms.CharField(required=False, max_length=5000, strip=False)
    publish = forms.BooleanField(required=False)

    def __init__(self, *args: Any, user_id: str = "", **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.user_id = user_id
        self.server = own_server(user_id)

    def clean_name(self) -> str:
        name = self.cleaned_data["name"].strip()
        if len(name) > MAX_NAME:
            raise forms.ValidationError(
                _("The name is too long (at most %(n)d characters).") % {"n": MAX_NAME}
            )
        return name

    def clean_topic(self) -> str:
        topic = self.cleaned_data["topic"].strip()
        if len(topic) > MAX_TOPIC:
            raise forms.ValidationError(
                _("The topic is too long (at most %(n)d characters).") % {"n": MAX_TOPIC}
            )
        return topic

    def clean_visibility(self) -> str:
        return "public" if self.cleaned_data["visibility"] == "public" else "private"

    def clean_invite(self) -> list[str]:
        invitees, bad = parse_user_ids(self.cleaned_data["invite"])
        invitees = [user_id for user_id in invitees if user_id != self.user_id]
        if bad:
            raise forms.ValidationError(
                _("Not a Matrix user ID: %(ids)s. A user ID looks like @alice:example.org.")
                % {"ids": ", ".join(bad[:5])}
            )
        if len(invitees) > MAX_INVITEES:
            raise forms.ValidationError(
                _("Invite at most %(n)d people at once.") % {"n": MAX_INVITEES}
            )
        return invitees

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        typed = self.data.get("alias", "")
        alias = typed.strip().lstrip("#")
        server = self.server
        if alias:
            if alias.endswith(f":{server}"):
                alias = alias[: -len(server) - 1]
            if data.get("visibility") != "public":
                self.add_error("alias", _("Only public rooms get an address here; leave it empty."))
            elif not ALIAS_LOCALPART.match(alias) or len(f"#{alias}:{server}") > 255:
                self.add_error(
                    "alias",
                    _(
                        "“%(typed)s” cannot be an address. Type only the part before "
                        ":%(server)s, without spaces, colons, # or @."
                    )
                    % {"typed": typed.strip(), "server": server},
                )
        data["alias"] = alias
        return data


class UserIdForm(forms.Form):
    """One person's Matrix ID (a DM, an invitation)."""

    user_id = forms.CharField(required=False, max_length=1000, strip=False)

    def clean_user_id(self) -> str:
        return self.cleaned_data["user_id"].strip()


class JoinForm(forms.Form):
    room = forms.CharField(required=False, max_length=MAX_REFERENCE, strip=False)

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        value = data.get("room", "")
        parsed = parse_room_reference(value)
        if parsed is None:
            raise forms.ValidationError(
                _(
                    "“%(value)s” is not a room. Enter a room address like #room:example.org, "
                    "a room ID like !abc:example.org, or a matrix.to link."
                )
                % {"value": value.strip()}
                if value.strip()
                else _("Enter the room's address, ID or a matrix.to link.")
            )
        data["identifier"], data["via"] = parsed
        return data


#: Canonical JSON integers (spec: power levels are integers in this range).
MAX_LEVEL = 2**53 - 1


def parse_level(choice: str, custom: str) -> int | None:
    """A power level from the picker: a preset's number, or the custom number."""
    text = custom if choice == "custom" else choice
    try:
        value = int(text.strip())
    except (AttributeError, ValueError):
        return None
    return value if -MAX_LEVEL <= value <= MAX_LEVEL else None


class PowerLevelForm(forms.Form):
    """A member's power level: `user`, and `level` (a preset number or "custom" with
    `custom_level`)."""

    user = forms.CharField(required=False, max_length=300)
    level = forms.CharField(required=False, max_length=30)
    custom_level = forms.CharField(required=False, max_length=30)

    def clean_user(self) -> str:
        user_id = self.cleaned_data["user"]
        if not valid_user_id(user_id):
            raise forms.ValidationError(_("Type the member's user ID, such as @alice:example.org."))
        return user_id

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if "user" in data:
            new = parse_level(data.get("level", ""), data.get("custom_level", ""))
            if new is None:
                raise forms.ValidationError(
                    _("A power level is a whole number, such as 0, 50 or 100.")
                )
            data["new_level"] = new
        return data


class RoomAvatarForm(forms.Form):
    """`action=upload` with a picture in `avatar`, or `action=remove`."""

    action = forms.CharField(required=False)
    avatar = forms.FileField(required=False)

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if data.get("action") == "remove":
            return data
        uploaded = data.get("avatar")
        if uploaded is None or not uploaded.size:
            raise forms.ValidationError(_("Choose a picture to upload."))
        if picture_type(uploaded) is None:
            raise forms.ValidationError(
                _("That file is not a picture this client accepts (JPEG, PNG, GIF or WebP).")
            )
        return data


#: Pictures a browser shows and that cannot carry script (no SVG), by Pillow's format name.
AVATAR_FORMATS = {
    "JPEG": "image/jpeg",
    "PNG": "image/png",
    "GIF": "image/gif",
    "WEBP": "image/webp",
}


def picture_type(uploaded: Any) -> str | None:
    """The MIME type of an accepted picture (by its content, not its name), else None."""
    try:
        from PIL import Image

        uploaded.seek(0)
        with Image.open(uploaded) as image:
            kind = image.format
            image.verify()
    except Exception:
        return None
    finally:
        uploaded.seek(0)
    return AVATAR_FORMATS.get(kind or "")
