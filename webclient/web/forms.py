"""`FormPage`: an async page of Django forms that change something on the homeserver.

The settings, profile, devices and room-creation pages are all the same shape: a page of
data from the homeserver, one or more small forms on it, and for each form a check, a
request and a redirect back with a message (so a reload does not send it again). On
failure the same page comes back with what was typed kept and the problem beside the form.

A subclass names its `template_name` and its `forms` (`{name: FormClass}`; a page with
several forms tells them apart by a hidden `form` field), builds the page's data in
`context()`, and does the change in `submit()`. A `MatrixError` raised by `submit` is the
form's error (429 for a rate limit, 400 otherwise); `UnknownToken` and `PageError` go to
the one handler (`web.errors`) like any view's.
"""

from __future__ import annotations

from typing import Any, ClassVar

from django import forms
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.utils.decorators import classonlymethod
from django.views import View

from webclient.matrix import errors

from .auth import matrix_login_required


def first_error(form: forms.Form) -> str:
    """The form's first message, field errors before form-wide ones (what the page shows)."""
    for name in [*form.fields, "__all__"]:
        if messages := form.errors.get(name):
            return str(messages[0])
    return ""


class FormPage(View):
    template_name: ClassVar[str]
    forms: ClassVar[dict[str, type[forms.Form]]] = {}
    http_method_names: ClassVar[list[str]] = ["get", "post"]

    @classonlymethod
    def as_view(cls, **initkwargs: Any):  # noqa: ANN206 - a view function
        return matrix_login_required(super().as_view(**initkwargs))

    # -- what a page defines ---------------------------------------------------------------

    async def context(self, request: HttpRequest, **kwargs: Any) -> dict[str, Any]:
        """The page's data (from the homeserver); `kwargs` are the URL's."""
        return {}

    def form_kwargs(self, request: HttpRequest, name: str) -> dict[str, Any]:
        """Extra arguments for form `name` (what its checks need, e.g. the user's server)."""
        return {}

    def initial(self, name: str, context: dict[str, Any]) -> dict[str, Any]:
        """What form `name` shows before anything is typed."""
        return {}

    async def submit(
        self, request: HttpRequest, name: str, form: forms.Form, **kwargs: Any
    ) -> HttpResponse:
        raise NotImplementedError

    # -- the shape they share ----------------------------------------------------------------

    async def get(self, request: HttpRequest, **kwargs: Any) -> HttpResponse:
        return await self.page(request, **kwargs)

    async def post(self, request: HttpRequest, **kwargs: Any) -> HttpResponse:
        name = request.POST.get("form", "") if len(self.forms) > 1 else next(iter(self.forms))
        if name not in self.forms:
            return await self.page(request, status=400, unknown_form=True, **kwargs)
        form = self.forms[name](request.POST, request.FILES, **self.form_kwargs(request, name))
        if form.is_valid():
            try:
                return await self.submit(request, name, form, **kwargs)
            except errors.MatrixError as exc:
                form.add_error(None, exc.message)
                status = 429 if exc.is_rate_limit else 400
        else:
            status = 400
        return await self.refused(request, name, form, status, **kwargs)

    async def refused(
        self, request: HttpRequest, name: str, form: forms.Form, status: int = 400, **kwargs: Any
    ) -> HttpResponse:
        """The page again, with form `name` as submitted and its errors (for `submit` too,
        when the homeserver's refusal belongs beside one field)."""
        return await self.page(request, bound={name: form}, status=status, **kwargs)

    async def page(
        self,
        request: HttpRequest,
        *,
        bound: dict[str, forms.Form] | None = None,
        status: int = 200,
        unknown_form: bool = False,
        **kwargs: Any,
    ) -> HttpResponse:
        context = await self.context(request, **kwargs)
        bound = bound or {}
        context["forms"] = {
            name: bound.get(name)
            or form_class(initial=self.initial(name, context), **self.form_kwargs(request, name))
            for name, form_class in self.forms.items()
        }
        context["form_errors"] = {name: first_error(form) for name, form in bound.items()}
        context["unknown_form"] = unknown_form
        return render(request, self.template_name, context, status=status)

    @staticmethod
    def done(url: str) -> HttpResponse:
        """After a change: back to the page (a reload must not send the form again)."""
        return HttpResponseRedirect(url)
