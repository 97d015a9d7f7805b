"""Your profile: display name and avatar (and the view model of anyone's profile).

Each form is answered with a redirect on success (so a reload does not send it again) and the
same page with the problem beside the form on failure (`web.forms.FormPage`).
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.core.files.uploadedfile import UploadedFile
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.utils.text import format_lazy
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from webclient.matrix import errors
from webclient.timeline.avatars import avatar
from webclient.web import uploads
from webclient.web.confirm import require_confirmation
from webclient.web.forms import FormPage
from webclient.web.rooms import session_of

AVATAR_SIZE = 96
#: Synapse refuses longer display names (`MAX_DISPLAYNAME_LEN`).
MAX_DISPLAY_NAME = 256
#: Pictures a browser shows and that cannot carry script (no SVG).
AVATAR_TYPES = frozenset({"image/jpeg", "image/png", "image/gif", "image/webp"})

CHOOSE_PICTURE = gettext_lazy("Choose a picture to upload.")
NOT_A_PICTURE = gettext_lazy(
    "That file is not a picture this client accepts (JPEG, PNG, GIF or WebP)."
)


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def profile_view_model(user_id: str, profile: dict[str, Any]) -> dict[str, Any]:
    """What a page shows of a `GET /profile` answer (anyone's)."""
    name = _text(profile.get("displayname")).strip()
    mxc = _text(profile.get("avatar_url"))
    return {
        "user_id": user_id,
        "display_name": name,
        "name": name or user_id,
        "avatar_url": mxc,
        "avatar": avatar(user_id, name or user_id, mxc or None, AVATAR_SIZE),
    }


class DisplayNameForm(forms.Form):
    displayname = forms.CharField(
        max_length=MAX_DISPLAY_NAME,
        error_messages={
            "required": gettext_lazy("Enter a display name."),
            "max_length": format_lazy(
                gettext_lazy("A display name can be at most {max} characters long."),
                max=MAX_DISPLAY_NAME,
            ),
        },
    )


class AvatarForm(forms.Form):
    avatar = forms.FileField(
        error_messages={
            "required": CHOOSE_PICTURE,
            "empty": CHOOSE_PICTURE,
            "missing": CHOOSE_PICTURE,
            "invalid": CHOOSE_PICTURE,
        }
    )

    def clean_avatar(self) -> UploadedFile:
        uploaded = self.cleaned_data["avatar"]
        mimetype = (uploaded.content_type or "").split(";")[0].strip().lower()
        if mimetype not in AVATAR_TYPES or uploads.image_size(uploaded) is None:
            raise forms.ValidationError(NOT_A_PICTURE, code="not_a_picture")
        return uploaded


class RemoveAvatarForm(forms.Form):
    """Only the button."""


class ProfilePage(FormPage):
    template_name = "accounts/profile.html"
    forms = {  # noqa: RUF012 - FormPage's declaration
        "displayname": DisplayNameForm,
        "avatar": AvatarForm,
        "remove_avatar": RemoveAvatarForm,
    }

    async def context(self, request: HttpRequest, **kwargs: Any) -> dict[str, Any]:
        session = await session_of(request)
        context: dict[str, Any] = {"max_display_name": MAX_DISPLAY_NAME}
        try:
            profile = await session.api.profile(
                session.user_id, action=_("Loading %(id)s") % {"id": session.user_id}
            )
        except errors.MatrixError as exc:
            if exc.status != 404:
                # Nothing set yet is a 404 on some servers; anything else is worth saying.
                context["load_error"] = exc.message
            profile = {}
        context["profile"] = profile_view_model(session.user_id, profile)
        return context

    def initial(self, name: str, context: dict[str, Any]) -> dict[str, Any]:
        if name == "displayname":
            return {"displayname": context["profile"]["display_name"]}
        return {}

    async def submit(
        self, request: HttpRequest, name: str, form: forms.Form, **kwargs: Any
    ) -> HttpResponse:
        session = await session_of(request)
        api, me = session.api, session.user_id
        if name == "displayname":
            display_name = form.cleaned_data["displayname"]
            await api.set_display_name(me, display_name, action=_("Changing your display name"))
            messages.success(
                request, _("Your display name is now “%(name)s”.") % {"name": display_name}
            )
        elif name == "avatar":
            mxc = await uploads.upload(session, form.cleaned_data["avatar"])
            await api.set_avatar_url(me, mxc, action=_("Setting your avatar"))
            messages.success(request, _("Your avatar has been changed."))
        else:
            require_confirmation(request, _("Remove your avatar?"), _("Remove avatar"))
            await api.set_avatar_url(me, "", action=_("Removing your avatar"))
            messages.success(request, _("Your avatar has been removed."))
        return self.done(reverse("accounts:profile"))
