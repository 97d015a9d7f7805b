"""Settings > Language and time zone: kept per login (`Credential.language`, `.time_zone`);
empty follows the browser (Accept-Language or the sign-in page's choice; the browser's zone).
`web.middleware.ViewerLocaleMiddleware` activates them on every page."""

from __future__ import annotations

import zoneinfo
from typing import Any

from django import forms
from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from webclient.live import locale
from webclient.matrix.models import Credential
from webclient.web.forms import FormPage


def _zone_choices() -> list[tuple[str, str]]:
    return [("", gettext_lazy("The browser's time zone"))] + [
        (name, name.replace("_", " ")) for name in sorted(zoneinfo.available_timezones())
    ]


class LanguageForm(forms.Form):
    language = forms.ChoiceField(required=False)
    time_zone = forms.ChoiceField(required=False)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["language"].choices = [("", gettext_lazy("The browser's language"))] + [
            (code, translation.get_language_info(code)["name_local"])
            for code, _name in settings.LANGUAGES
        ]
        self.fields["time_zone"].choices = _zone_choices()

    def clean_time_zone(self) -> str:
        value = self.cleaned_data.get("time_zone", "")
        if value and not locale.valid_zone(value):
            raise forms.ValidationError(_("Choose a time zone from the list."), code="zone")
        return value


class LanguagePage(FormPage):
    template_name = "accounts/language.html"
    forms = {"language": LanguageForm}  # noqa: RUF012 - FormPage's declaration

    async def context(self, request: HttpRequest, **kwargs: Any) -> dict[str, Any]:
        credential: Credential = request.credential
        return {
            "chosen_language": credential.language,
            "chosen_zone": credential.time_zone,
            "browser_zone": locale.valid_zone(request.COOKIES.get(locale.ZONE_COOKIE)),
        }

    def initial(self, name: str, context: dict[str, Any]) -> dict[str, Any]:
        return {"language": context["chosen_language"], "time_zone": context["chosen_zone"]}

    async def submit(
        self, request: HttpRequest, name: str, form: forms.Form, **kwargs: Any
    ) -> HttpResponse:
        credential: Credential = request.credential
        credential.language = form.cleaned_data["language"]
        credential.time_zone = form.cleaned_data["time_zone"]
        await credential.asave(update_fields=["language", "time_zone", "updated"])
        # The confirmation is read on the next page, in the language just chosen.
        language = locale.language_for(
            credential.language, request.COOKIES, request.headers.get("Accept-Language", "")
        )
        with translation.override(language):
            messages.success(request, _("Your language and time zone are saved."))
        return self.done(reverse("accounts:language"))
