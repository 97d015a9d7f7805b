"""Settings > Preferences: how this login's pages look (the theme), kept on its `Credential`.

The theme is written server-side as `<html data-theme="…">` on every page (`web.context`), so
it applies before any script runs and without one. Each choice is a small form of its own, so
other preferences (language, time zone) can sit beside it on this page.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from webclient.matrix.models import THEMES, Credential
from webclient.web.context import THEME_LABELS
from webclient.web.forms import FormPage

FOLLOW_BROWSER = _("Follow the browser (light or dark, more contrast when it asks)")


class ThemeForm(forms.Form):
    theme = forms.ChoiceField(
        choices=[("", FOLLOW_BROWSER), *((t, THEME_LABELS[t]) for t in THEMES)],
        required=False,
        widget=forms.RadioSelect,
        error_messages={"invalid_choice": _("Choose one of the themes in the list.")},
    )


class PreferencesPage(FormPage):
    template_name = "accounts/preferences.html"
    forms = {"theme": ThemeForm}  # noqa: RUF012 - FormPage's declaration

    def initial(self, name: str, context: dict[str, Any]) -> dict[str, Any]:
        return {"theme": context["chosen_theme"]}

    async def context(self, request: HttpRequest, **kwargs: Any) -> dict[str, Any]:
        return {"chosen_theme": request.credential.theme}

    async def submit(
        self, request: HttpRequest, name: str, form: forms.Form, **kwargs: Any
    ) -> HttpResponse:
        credential: Credential = request.credential
        theme = form.cleaned_data["theme"]
        await Credential.objects.filter(pk=credential.pk).aupdate(theme=theme)
        credential.theme = theme
        label = THEME_LABELS.get(theme)
        messages.success(
            request,
            gettext("Theme: %(theme)s.") % {"theme": label}
            if label
            else gettext("The theme follows your browser."),
        )
        return self.done(reverse("accounts:preferences"))
