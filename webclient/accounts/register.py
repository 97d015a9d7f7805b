"""Creating an account on a homeserver that allows it (spec: `POST /register`).

Registration is a user-interactive authentication (UIA) exchange:

1. `GET /register/available?username=` tells early whether the name is taken or invalid
   (advisory only: it is rate limited hard, and a 429 there is not a reason to stop);
2. `POST /register` without `auth` answers 401 with the `flows` the homeserver accepts, the
   `params` of their stages and a `session` (or 403 when registration is disabled);
3. the client picks a flow made only of stages it can do — `m.login.dummy`,
   `m.login.registration_token` and `m.login.terms` — and repeats the request once per stage
   with `auth: {type, session, ...}` until the homeserver answers 200 with an access token.

`m.login.terms` needs the person to accept the homeserver's policies, so the exchange can
stop half-way and show a second page. What it needs to carry on is kept in the Django session
(server-side); the password is kept there encrypted, only until the account exists or the
attempt is abandoned, and never put in a page. A flow with any other stage (email, phone,
CAPTCHA, single sign-on) ends with a sentence saying so: this client cannot do those.

On success the new login becomes a `Credential` exactly as a password sign-in does.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass, field
from typing import Any
from urllib.parse import urlencode, urlsplit

import aiohttp
from cryptography.fernet import InvalidToken
from django import forms
from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse

from webclient.matrix import auth, discovery, errors, tokens
from webclient.matrix.client import DEVICE_NAME

from .current import credential_for
from .uia import Challenge
from .views import _end_credential, _start_session

logger = logging.getLogger("webclient.accounts")

DUMMY = "m.login.dummy"
TOKEN = "m.login.registration_token"  # noqa: S105 - a stage name
TERMS = "m.login.terms"
SUPPORTED = frozenset({DUMMY, TOKEN, TERMS})

#: How people know the stages this client cannot do.
STAGE_WORDS = {
    "m.login.email.identity": "an email address",
    "m.login.msisdn": "a phone number",
    "m.login.recaptcha": "a CAPTCHA",
    "m.login.sso": "single sign-on",
    "m.login.password": "an existing account's password",
    "m.oauth": "the homeserver's own sign-up page",
}

#: The Django session key of an unfinished registration (see `Pending`).
PENDING_KEY = "matrix_registration"
#: How long an unfinished registration (waiting for the terms to be accepted) is kept.
PENDING_SECONDS = 15 * 60

DISABLED = (
    "This homeserver does not allow creating accounts here. Ask its administrators for an "
    "account, or create one on another homeserver."
)
TAKEN = "That username is taken. Choose another one."
RESERVED = "That username is reserved on this homeserver (for a bridge or bot). Choose another one."
NEED_TOKEN = "This homeserver creates accounts only with a registration token: enter yours."  # noqa: S105
BAD_TOKEN = "That registration token is not valid: it may be mistyped, expired or used up."  # noqa: S105
MISMATCH = "The two passwords are not the same. Type the same password twice."
BAD_TERMS = (
    "This homeserver asks you to accept its terms, but sent them in a form this client cannot "
    "show. Create your account with another Matrix client."
)
EXPIRED = "That sign-up took too long and was forgotten. Fill in the form again."
ACCEPT_ALL = "Tick every box to accept the homeserver's policies, or cancel."


class RegistrationError(errors.MatrixError):
    """A registration that cannot go on; `field` names the form field to correct, if any."""

    def __init__(
        self, message: str, errcode: str | None = None, status: int | None = None, field: str = ""
    ) -> None:
        super().__init__(message, errcode=errcode, status=status)
        self.field = field


class RegistrationForm(forms.Form):
    homeserver = forms.CharField(required=False, max_length=500)
    username = forms.CharField(max_length=255)
    password = forms.CharField(max_length=1024, strip=False)
    password_confirm = forms.CharField(max_length=1024, strip=False)
    registration_token = forms.CharField(required=False, max_length=64)

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if (
            "password" in data
            and "password_confirm" in data
            and data["password"] != data["password_confirm"]
        ):
            raise forms.ValidationError(MISMATCH, code="mismatch")
        return data


@dataclass
class Pending:
    """A registration under way: everything needed to send the next stage."""

    homeserver: str
    username: str
    password: str
    token: str
    session: str | None
    flow: list[str]
    completed: list[str] = field(default_factory=list)
    policies: list[dict[str, str]] = field(default_factory=list)

    def to_session(self) -> dict[str, Any]:
        data = asdict(self)
        data["password"] = tokens.encrypt(self.password)
        data["expires"] = time.time() + PENDING_SECONDS
        return data

    @classmethod
    def from_session(cls, data: object) -> Pending | None:
        if not isinstance(data, dict) or data.get("expires", 0) < time.time():
            return None
        try:
            values = {k: v for k, v in data.items() if k != "expires"}
            values["password"] = tokens.decrypt(values["password"])
            return cls(**values)
        except (KeyError, TypeError, ValueError, InvalidToken):
            return None


# -- talking to the homeserver ------------------------------------------------------------------


class _Homeserver:
    """Plain JSON requests to one homeserver; transport failures become `MatrixError`s."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self._http = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=settings.MATRIX_REQUEST_TIMEOUT)
        )

    async def __aenter__(self) -> _Homeserver:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self._http.close()

    async def request(
        self, method: str, path: str, body: dict[str, Any] | None = None
    ) -> tuple[int, dict[str, Any]]:
        try:
            async with self._http.request(method, self.base_url + path, json=body) as response:
                try:
                    payload = await response.json(content_type=None)
                except ValueError:
                    payload = None
                return response.status, payload if isinstance(payload, dict) else {}
        except TimeoutError as exc:
            raise errors.unreachable(self.base_url, "timed out") from exc
        except aiohttp.ClientConnectorError as exc:
            detail = exc.os_error.strerror or "connection refused"
            raise errors.unreachable(self.base_url, detail) from exc
        except aiohttp.ClientError as exc:
            raise errors.unreachable(self.base_url, type(exc).__name__) from exc


def _rate_limited(payload: dict[str, Any], status: int) -> RegistrationError:
    retry = payload.get("retry_after_ms")
    return RegistrationError(
        "Too many attempts to create an account. "
        + errors.retry_phrase(retry if isinstance(retry, int) else None),
        errcode="M_LIMIT_EXCEEDED",
        status=status,
    )


def _refusal(status: int, payload: dict[str, Any], *, first: bool) -> errors.MatrixError:
    """What a 4xx/5xx answer to `/register` or `/register/available` means to the person."""
    errcode = payload.get("errcode") if isinstance(payload.get("errcode"), str) else None
    server_text = payload.get("error") if isinstance(payload.get("error"), str) else None
    if status == 429 or errcode == "M_LIMIT_EXCEEDED":
        return _rate_limited(payload, status)
    if errcode == "M_USER_IN_USE":
        return RegistrationError(TAKEN, errcode, status, field="username")
    if errcode == "M_INVALID_USERNAME":
        detail = f" ({server_text})" if server_text else ""
        return RegistrationError(
            f"That username cannot be used on this homeserver{detail}. Use lower-case letters, "
            "digits and . _ = - / only.",
            errcode,
            status,
            field="username",
        )
    if errcode == "M_EXCLUSIVE":
        return RegistrationError(RESERVED, errcode, status, field="username")
    if errcode == "M_WEAK_PASSWORD" or (errcode or "").startswith("M_PASSWORD_"):
        detail = f": {server_text}" if server_text else "."
        return RegistrationError(
            f"The homeserver does not accept that password{detail} Choose a stronger one.",
            errcode,
            status,
            field="password",
        )
    if status == 403 and (first or errcode == "M_FORBIDDEN"):
        return RegistrationError(DISABLED, errcode, status)
    return errors.from_response(errcode, status, server_text, action="Creating the account")


async def _check_username(hs: _Homeserver, username: str) -> None:
    status, payload = await hs.request(
        "GET", "/_matrix/client/v3/register/available?" + urlencode({"username": username})
    )
    if status == 200:
        return
    if status == 429 or status == 404 or payload.get("errcode") == "M_UNRECOGNIZED":
        # Advisory only: `/register` itself checks the name again.
        return
    raise _refusal(status, payload, first=True)


async def _check_token(hs: _Homeserver, token: str) -> None:
    status, payload = await hs.request(
        "GET",
        "/_matrix/client/v1/register/m.login.registration_token/validity?"
        + urlencode({"token": token}),
    )
    if status == 200:
        if payload.get("valid") is not True:
            raise RegistrationError(BAD_TOKEN, "W_BAD_TOKEN", status, field="registration_token")
        return
    if status == 429:
        raise _rate_limited(payload, status)
    if status == 403:
        raise RegistrationError(DISABLED, payload.get("errcode"), status)
    # Older homeservers do not have the endpoint; the token stage itself will tell.


def _unsupported(flows: list[list[str]]) -> RegistrationError:
    missing = sorted({s for flow in flows for s in flow if s not in SUPPORTED})
    words = [STAGE_WORDS.get(stage, f"a step called “{stage}”") for stage in missing]
    if not words:
        need = "a step"
    elif len(words) == 1:
        need = words[0]
    else:
        need = ", ".join(words[:-1]) + " or " + words[-1]
    return RegistrationError(
        f"This homeserver needs {need} to create an account, and this client cannot do that. "
        "Create your account with another Matrix client or on the homeserver's own website, "
        "then sign in here.",
        errcode="W_UIA_UNSUPPORTED",
        status=401,
    )


def choose_flow(flows: list[list[str]], have_token: bool) -> list[str]:
    """The shortest flow made only of stages this client can do, preferring one that needs
    no registration token; raises when none fits."""
    usable = [flow for flow in flows if flow and all(stage in SUPPORTED for stage in flow)]
    if not usable:
        raise _unsupported(flows)
    without_token = [flow for flow in usable if TOKEN not in flow]
    if not without_token and not have_token:
        raise RegistrationError(NEED_TOKEN, "W_NEED_TOKEN", 401, field="registration_token")
    return min(without_token or usable, key=len)


def parse_policies(params: object) -> list[dict[str, str]]:
    """The policies of an `m.login.terms` stage as `{id, name, url, version}`, in English when
    the homeserver offers it. Raises when they are not what the spec describes."""
    terms = params.get(TERMS) if isinstance(params, dict) else None
    policies = terms.get("policies") if isinstance(terms, dict) else None
    if not isinstance(policies, dict) or not policies:
        raise RegistrationError(BAD_TERMS, "W_BAD_TERMS")
    result = []
    for policy_id, definition in policies.items():
        if not isinstance(definition, dict):
            raise RegistrationError(BAD_TERMS, "W_BAD_TERMS")
        translations = {
            lang: text
            for lang, text in definition.items()
            if lang != "version" and isinstance(text, dict)
        }
        english = [lang for lang in translations if lang.lower().replace("_", "-").startswith("en")]
        chosen = translations.get("en") or (
            translations[sorted(english)[0]] if english else next(iter(translations.values()), {})
        )
        name, url = chosen.get("name"), chosen.get("url")
        parts = urlsplit(url) if isinstance(url, str) else None
        if (
            not isinstance(name, str)
            or not name.strip()
            or parts is None
            or parts.scheme not in {"http", "https"}
            or not parts.netloc
        ):
            raise RegistrationError(BAD_TERMS, "W_BAD_TERMS")
        version = definition.get("version")
        result.append(
            {
                "id": str(policy_id),
                "name": name.strip(),
                "url": url,
                "version": version if isinstance(version, str) else "",
            }
        )
    return result


def _register_body(pending: Pending, auth_dict: dict[str, Any] | None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "username": pending.username,
        "password": pending.password,
        "initial_device_display_name": DEVICE_NAME,
    }
    if auth_dict is not None:
        body["auth"] = auth_dict
    return body


def _logged_in(homeserver: str, payload: dict[str, Any]) -> auth.LoginResult:
    user_id, device_id = payload.get("user_id"), payload.get("device_id")
    access_token = payload.get("access_token")
    if not all(isinstance(v, str) and v for v in (user_id, device_id, access_token)):
        who = user_id if isinstance(user_id, str) else "Your account"
        raise RegistrationError(
            f"{who} was created, but the homeserver did not sign you in. Sign in with it now.",
            errcode="W_NO_LOGIN",
            status=200,
        )
    return auth.LoginResult(homeserver, user_id, device_id, access_token)


async def _run_stages(
    hs: _Homeserver, pending: Pending, terms_accepted: bool
) -> auth.LoginResult | Pending:
    """Complete the chosen flow's stages in order; stop (returning `pending`) at an
    `m.login.terms` stage the person has not accepted yet."""
    for stage in pending.flow:
        if stage in pending.completed:
            continue
        if stage == TERMS and not terms_accepted:
            return pending
        auth_dict: dict[str, Any] = {"type": stage}
        if pending.session:
            auth_dict["session"] = pending.session
        if stage == TOKEN:
            auth_dict["token"] = pending.token
        status, payload = await hs.request(
            "POST", "/_matrix/client/v3/register", _register_body(pending, auth_dict)
        )
        if status == 200:
            return _logged_in(hs.base_url, payload)
        challenge = Challenge.from_payload(payload) if status == 401 else None
        if challenge is None:
            raise _refusal(status, payload, first=False)
        if challenge.errcode or stage not in challenge.completed:
            if stage == TOKEN:
                raise RegistrationError(
                    BAD_TOKEN, challenge.errcode, status, field="registration_token"
                )
            raise errors.from_response(
                challenge.errcode or None,
                status,
                challenge.error,
                action="Creating the account",
            )
        pending.completed = challenge.completed
        pending.session = challenge.session or pending.session
    raise RegistrationError(
        "The homeserver still wants more steps after all of them were done. "
        "Create your account with another Matrix client.",
        errcode="W_UIA_UNFINISHED",
        status=401,
    )


async def begin(
    homeserver: str, username: str, password: str, token: str = ""
) -> auth.LoginResult | Pending:
    """Start a registration: the new login when it is done, or a `Pending` waiting for the
    person to accept the homeserver's terms."""
    username = username.strip()
    token = token.strip()
    if server := discovery.server_name_of(username):
        # `@alice:example.org`: the localpart is the name, the server the homeserver.
        homeserver = homeserver or server
        username = username[1:].split(":", 1)[0]
    base_url = await discovery.resolve_homeserver(homeserver)
    async with _Homeserver(base_url) as hs:
        await _check_username(hs, username)
        pending = Pending(base_url, username, password, token, session=None, flow=[])
        status, payload = await hs.request(
            "POST", "/_matrix/client/v3/register", _register_body(pending, None)
        )
        if status == 200:
            # No authentication needed at all.
            return _logged_in(base_url, payload)
        challenge = Challenge.from_payload(payload) if status == 401 else None
        if challenge is None:
            raise _refusal(status, payload, first=True)
        pending.flow = choose_flow(challenge.flows, have_token=bool(token))
        pending.session = challenge.session
        pending.completed = challenge.completed
        if TOKEN in pending.flow:
            await _check_token(hs, token)
        if TERMS in pending.flow:
            pending.policies = parse_policies(payload.get("params"))
        return await _run_stages(hs, pending, terms_accepted=False)


async def carry_on(pending: Pending) -> auth.LoginResult | Pending:
    """Finish a registration once its terms are accepted."""
    async with _Homeserver(pending.homeserver) as hs:
        return await _run_stages(hs, pending, terms_accepted=True)


# -- views ----------------------------------------------------------------------------------------


def _render(
    request: HttpRequest,
    *,
    values: dict[str, str] | None = None,
    error: str | None = None,
    error_field: str = "",
    pending: Pending | None = None,
    status: int = 200,
) -> HttpResponse:
    context = {
        "values": values or {"homeserver": settings.MATRIX_HOMESERVER},
        "error": error,
        "error_field": error_field,
        "pending": pending,
    }
    return render(request, "accounts/register.html", context, status=status)


async def _signed_in(request: HttpRequest, result: auth.LoginResult) -> HttpResponse:
    await request.session.apop(PENDING_KEY, None)
    # Creating an account from a browser that was signed in replaces the earlier login.
    if previous := await credential_for(request.session):
        await _end_credential(request, previous)
    await _start_session(request, result, owns_device=True)
    logger.info("registered %s on %s", result.user_id, result.homeserver)
    return HttpResponseRedirect(reverse("rooms:list"))


def _status_of(exc: errors.MatrixError) -> int:
    return 429 if exc.is_rate_limit else 400


async def register_view(request: HttpRequest) -> HttpResponse:
    if request.method != "POST":
        # A fresh form forgets any sign-up left half-way (and the password kept for it).
        await request.session.apop(PENDING_KEY, None)
        return _render(request)
    step = request.POST.get("step", "details")
    if step == "cancel":
        await request.session.apop(PENDING_KEY, None)
        return HttpResponseRedirect(reverse("accounts:register"))
    if step == "terms":
        return await _terms_step(request)
    # Starting again drops a sign-up left at the terms step (and the password kept for it).
    await request.session.apop(PENDING_KEY, None)

    form = RegistrationForm(request.POST)
    values = {
        "homeserver": request.POST.get("homeserver", ""),
        "username": request.POST.get("username", ""),
        "registration_token": request.POST.get("registration_token", ""),
    }
    if not form.is_valid():
        if form.has_error("__all__", "mismatch"):
            return _render(
                request, values=values, error=MISMATCH, error_field="password", status=400
            )
        return _render(request, values=values, error="Fill in every field.", status=400)
    data = form.cleaned_data
    try:
        outcome = await begin(
            data["homeserver"], data["username"], data["password"], data["registration_token"]
        )
    except errors.MatrixError as exc:
        field_name = getattr(exc, "field", "")
        if field_name == "registration_token":
            values["registration_token"] = ""
        return _render(
            request,
            values=values,
            error=exc.message,
            error_field=field_name,
            status=_status_of(exc),
        )
    if isinstance(outcome, Pending):
        await request.session.aset(PENDING_KEY, outcome.to_session())
        return _render(request, pending=outcome)
    return await _signed_in(request, outcome)


async def _terms_step(request: HttpRequest) -> HttpResponse:
    pending = Pending.from_session(await request.session.aget(PENDING_KEY))
    if pending is None:
        await request.session.apop(PENDING_KEY, None)
        return _render(request, error=EXPIRED, status=400)
    accepted = set(request.POST.getlist("accept"))
    if not {policy["id"] for policy in pending.policies} <= accepted:
        return _render(request, pending=pending, error=ACCEPT_ALL, status=400)
    try:
        outcome = await carry_on(pending)
    except errors.MatrixError as exc:
        await request.session.apop(PENDING_KEY, None)
        values = {"homeserver": pending.homeserver, "username": pending.username}
        return _render(
            request,
            values=values,
            error=exc.message,
            error_field=getattr(exc, "field", ""),
            status=_status_of(exc),
        )
    if isinstance(outcome, Pending):  # pragma: no cover - carry_on accepts the terms
        return _render(request, pending=outcome)
    return await _signed_in(request, outcome)
