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
stop half-way: `begin` then returns a `Pending` that the caller keeps (its `to_session` form
carries the password encrypted) and hands to `carry_on` once the terms are accepted. A flow
with any other stage (email, phone, CAPTCHA, single sign-on) ends with a sentence saying so:
this client cannot do those.

Every refusal is a `RegistrationError` (or another `MatrixError`) whose message is for people;
`field` names the form field to correct, if any.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Any
from urllib.parse import urlsplit

from cryptography.fernet import InvalidToken
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from . import discovery, errors, tokens
from .api import Challenge, HomeserverApi
from .auth import DEVICE_NAME, LoginResult

DUMMY = "m.login.dummy"
TOKEN = "m.login.registration_token"  # noqa: S105 - a stage name
TERMS = "m.login.terms"
SUPPORTED = frozenset({DUMMY, TOKEN, TERMS})

#: How people know the stages this client cannot do.
STAGE_WORDS = {
    "m.login.email.identity": gettext_lazy("an email address"),
    "m.login.msisdn": gettext_lazy("a phone number"),
    "m.login.recaptcha": gettext_lazy("a CAPTCHA"),
    "m.login.sso": gettext_lazy("single sign-on"),
    "m.login.password": gettext_lazy("an existing account's password"),
    "m.oauth": gettext_lazy("the homeserver's own sign-up page"),
}

#: How long an unfinished registration (waiting for the terms to be accepted) is kept.
PENDING_SECONDS = 15 * 60

#: What `errors.from_response` says the homeserver's refusals were about.
ACTION = gettext_lazy("Creating the account")

DISABLED = gettext_lazy(
    "This homeserver does not allow creating accounts here. Ask its administrators for an "
    "account, or create one on another homeserver."
)
TAKEN = gettext_lazy("That username is taken. Choose another one.")
RESERVED = gettext_lazy(
    "That username is reserved on this homeserver (for a bridge or bot). Choose another one."
)
NEED_TOKEN = gettext_lazy(
    "This homeserver creates accounts only with a registration token: enter yours."
)  # noqa: S105
BAD_TOKEN = gettext_lazy(
    "That registration token is not valid: it may be mistyped, expired or used up."
)  # noqa: S105
BAD_TERMS = gettext_lazy(
    "This homeserver asks you to accept its terms, but sent them in a form this client cannot "
    "show. Create your account with another Matrix client."
)


class RegistrationError(errors.MatrixError):
    """A registration that cannot go on; `field` names the form field to correct, if any."""

    def __init__(
        self, message: str, errcode: str | None = None, status: int | None = None, field: str = ""
    ) -> None:
        super().__init__(message, errcode=errcode, status=status)
        self.field = field


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
        """What a Django session keeps of it: the password encrypted, with an expiry."""
        data = asdict(self)
        data["password"] = tokens.encrypt(self.password)
        data["expires"] = time.time() + PENDING_SECONDS
        return data

    @classmethod
    def from_session(cls, data: object) -> Pending | None:
        """The registration `to_session` kept; None when it expired or is not one."""
        if not isinstance(data, dict) or data.get("expires", 0) < time.time():
            return None
        try:
            values = {k: v for k, v in data.items() if k != "expires"}
            values["password"] = tokens.decrypt(values["password"])
            return cls(**values)
        except (KeyError, TypeError, ValueError, InvalidToken):
            return None


# -- what the homeserver's answers mean -----------------------------------------------------------


def _rate_limited(exc: errors.MatrixError) -> RegistrationError:
    return RegistrationError(
        _("Too many attempts to create an account.")
        + " "
        + errors.retry_phrase(exc.retry_after_ms),
        errcode="M_LIMIT_EXCEEDED",
        status=exc.status,
    )


def refusal(exc: errors.MatrixError, *, first: bool) -> errors.MatrixError:
    """What a refusal of `/register` or `/register/available` means to the person, in the
    homeserver's own words where they help. `first`: the answer to the first request (a 403
    there means registration is off)."""
    errcode, status, server_text = exc.errcode, exc.status, exc.server_message
    if exc.is_rate_limit:
        return _rate_limited(exc)
    if errcode == "M_USER_IN_USE":
        return RegistrationError(TAKEN, errcode, status, field="username")
    if errcode == "M_INVALID_USERNAME":
        return RegistrationError(
            (
                _("That username cannot be used on this homeserver (%(reason)s).")
                % {"reason": server_text}
                if server_text
                else _("That username cannot be used on this homeserver.")
            )
            + " "
            + _("Use lower-case letters, digits and . _ = - / only."),
            errcode,
            status,
            field="username",
        )
    if errcode == "M_EXCLUSIVE":
        return RegistrationError(RESERVED, errcode, status, field="username")
    if errcode == "M_WEAK_PASSWORD" or (errcode or "").startswith("M_PASSWORD_"):
        return RegistrationError(
            (
                _("The homeserver does not accept that password: %(reason)s")
                % {"reason": server_text}
                if server_text
                else _("The homeserver does not accept that password.")
            )
            + " "
            + _("Choose a stronger one."),
            errcode,
            status,
            field="password",
        )
    if status == 403 and (first or errcode == "M_FORBIDDEN"):
        return RegistrationError(DISABLED, errcode, status)
    return errors.from_response(errcode, status, server_text, action=ACTION)


async def _check_username(api: HomeserverApi, username: str) -> None:
    try:
        await api.register_available(username)
    except errors.MatrixError as exc:
        if exc.status is None:
            raise  # the homeserver could not be asked
        if exc.is_rate_limit or exc.status == 404 or exc.errcode == "M_UNRECOGNIZED":
            # Advisory only: `/register` itself checks the name again.
            return
        raise refusal(exc, first=True) from exc


async def _check_token(api: HomeserverApi, token: str) -> None:
    try:
        answer = await api.registration_token_valid(token)
    except errors.MatrixError as exc:
        if exc.status is None:
            raise
        if exc.is_rate_limit:
            raise _rate_limited(exc) from exc
        if exc.status == 403:
            raise RegistrationError(DISABLED, exc.errcode, exc.status) from exc
        # Older homeservers do not have the endpoint; the token stage itself will tell.
        return
    if answer.get("valid") is not True:
        raise RegistrationError(BAD_TOKEN, "W_BAD_TOKEN", 200, field="registration_token")


def _unsupported(flows: list[list[str]]) -> RegistrationError:
    missing = sorted({s for flow in flows for s in flow if s not in SUPPORTED})
    words = [
        str(STAGE_WORDS.get(stage) or _("a step called “%(stage)s”") % {"stage": stage})
        for stage in missing
    ]
    if not words:
        need = _("a step")
    elif len(words) == 1:
        need = words[0]
    else:
        need = _("%(choices)s or %(last)s") % {"choices": ", ".join(words[:-1]), "last": words[-1]}
    return RegistrationError(
        _(
            "This homeserver needs %(need)s to create an account, and this client cannot do "
            "that. Create your account with another Matrix client or on the homeserver's own "
            "website, then sign in here."
        )
        % {"need": need},
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


# -- the exchange ---------------------------------------------------------------------------------


def _register_body(pending: Pending, auth_dict: dict[str, Any] | None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "username": pending.username,
        "password": pending.password,
        "initial_device_display_name": DEVICE_NAME,
    }
    if auth_dict is not None:
        body["auth"] = auth_dict
    return body


def _logged_in(homeserver: str, payload: dict[str, Any]) -> LoginResult:
    user_id, device_id = payload.get("user_id"), payload.get("device_id")
    access_token = payload.get("access_token")
    if not all(isinstance(v, str) and v for v in (user_id, device_id, access_token)):
        who = user_id if isinstance(user_id, str) else _("Your account")
        raise RegistrationError(
            _("%(who)s was created, but the homeserver did not sign you in. Sign in with it now.")
            % {"who": who},
            errcode="W_NO_LOGIN",
            status=200,
        )
    return LoginResult(homeserver, user_id, device_id, access_token)


async def _register(
    api: HomeserverApi, pending: Pending, auth_dict: dict[str, Any] | None, *, first: bool
) -> dict[str, Any] | Challenge:
    try:
        return await api.register(_register_body(pending, auth_dict))
    except errors.MatrixError as exc:
        if exc.status is None:
            raise  # the homeserver could not be asked
        raise refusal(exc, first=first) from exc


async def _run_stages(
    api: HomeserverApi, pending: Pending, terms_accepted: bool
) -> LoginResult | Pending:
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
        answer = await _register(api, pending, auth_dict, first=False)
        if not isinstance(answer, Challenge):
            return _logged_in(api.base_url, answer)
        if answer.errcode or stage not in answer.completed:
            if stage == TOKEN:
                raise RegistrationError(BAD_TOKEN, answer.errcode, 401, field="registration_token")
            raise errors.from_response(answer.errcode or None, 401, answer.error, action=ACTION)
        pending.completed = answer.completed
        pending.session = answer.session or pending.session
    raise RegistrationError(
        _(
            "The homeserver still wants more steps after all of them were done. "
            "Create your account with another Matrix client."
        ),
        errcode="W_UIA_UNFINISHED",
        status=401,
    )


async def begin(
    homeserver: str, username: str, password: str, token: str = ""
) -> LoginResult | Pending:
    """Start a registration: the new login when it is done, or a `Pending` waiting for the
    person to accept the homeserver's terms."""
    username = username.strip()
    token = token.strip()
    if server := discovery.server_name_of(username):
        # `@alice:example.org`: the localpart is the name, the server the homeserver.
        homeserver = homeserver or server
        username = username[1:].split(":", 1)[0]
    base_url = await discovery.resolve_homeserver(homeserver)
    async with HomeserverApi(base_url) as api:
        await _check_username(api, username)
        pending = Pending(base_url, username, password, token, session=None, flow=[])
        answer = await _register(api, pending, None, first=True)
        if not isinstance(answer, Challenge):
            # No authentication needed at all.
            return _logged_in(base_url, answer)
        pending.flow = choose_flow(answer.flows, have_token=bool(token))
        pending.session = answer.session
        pending.completed = answer.completed
        if TOKEN in pending.flow:
            await _check_token(api, token)
        if TERMS in pending.flow:
            pending.policies = parse_policies(answer.params)
        return await _run_stages(api, pending, terms_accepted=False)


async def carry_on(pending: Pending) -> LoginResult | Pending:
    """Finish a registration once its terms are accepted."""
    async with HomeserverApi(pending.homeserver) as api:
        return await _run_stages(api, pending, terms_accepted=True)
