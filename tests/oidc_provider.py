"""A small but real OpenID Connect provider for the single sign-on tests.

Synapse is configured with it exactly as with Keycloak or Google: it reads
`/.well-known/openid-configuration`, sends the browser to `/authorize`, swaps the code for
tokens at `/token` (client secret, PKCE), checks the RS256 ID token against `/jwks`, and may
ask `/userinfo`. The authorization code flow follows OpenID Connect Core 1.0 section 3.1:
codes are single use and short-lived, bound to the client, the redirect URI and the PKCE
challenge; the ID token carries the nonce and `at_hash`. Keys and tokens come from joserfc
(Authlib's JOSE library).

The sign-in page is a plain HTML form (username, password, and a `request_id` naming the
pending authorization request); the browser tests fill it, `sign_in_form()` does the same for
plain HTTP clients. It runs on a free loopback port in a thread (`with OIDCProvider(...)`),
`sso_homeserver_config()` gives the `oidc_providers` entry for Synapse, and `sso_stack()`
runs provider, Synapse and the client (daphne) together.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import html
import json
import secrets
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from joserfc import jwt
from joserfc.jwk import RSAKey

from webclient.demo.homeserver import LocalSynapse

CODE_LIFETIME = 60
TOKEN_LIFETIME = 300


@dataclass
class TestUser:
    username: str
    password: str
    name: str

    @property
    def claims(self) -> dict[str, str]:
        return {
            "sub": f"sub-{self.username}",
            "preferred_username": self.username,
            "name": self.name,
        }


@dataclass
class _Pending:
    """An authorization request waiting for the person to sign in."""

    client_id: str
    redirect_uri: str
    state: str | None
    nonce: str | None
    scope: str
    code_challenge: str | None
    code_challenge_method: str | None
    created: float = field(default_factory=time.monotonic)


@dataclass
class _Grant:
    pending: _Pending
    user: TestUser
    created: float = field(default_factory=time.monotonic)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class OIDCProvider:
    """One issuer with one confidential client and a fixed set of test users."""

    def __init__(self, client_id: str = "synapse", client_secret: str | None = None) -> None:
        self.client_id = client_id
        self.client_secret = client_secret or secrets.token_urlsafe(24)
        self.redirect_uris: set[str] = set()
        self.users: dict[str, TestUser] = {}
        self.key = RSAKey.generate_key(2048, parameters={"kid": secrets.token_hex(8)})
        self._pending: dict[str, _Pending] = {}
        self._codes: dict[str, _Grant] = {}
        self._tokens: dict[str, tuple[TestUser, float]] = {}
        self._lock = threading.Lock()
        # What happened, for assertions: ("authorize"|"sign_in"|"token"|"userinfo", detail).
        self.events: list[tuple[str, str]] = []
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- configuration ---------------------------------------------------------------------

    @property
    def issuer(self) -> str:
        if self._server is None:
            raise RuntimeError("OIDCProvider is not running; call start() first")
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/"

    def add_user(self, username: str, password: str, name: str | None = None) -> TestUser:
        user = TestUser(username, password, name or username.title())
        self.users[username] = user
        return user

    def metadata(self) -> dict[str, Any]:
        base = self.issuer
        return {
            "issuer": base,
            "authorization_endpoint": base + "authorize",
            "token_endpoint": base + "token",
            "userinfo_endpoint": base + "userinfo",
            "jwks_uri": base + "jwks",
            "response_types_supported": ["code"],
            "grant_types_supported": ["authorization_code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "scopes_supported": ["openid", "profile"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
            "code_challenge_methods_supported": ["S256"],
            "claims_supported": ["sub", "iss", "aud", "exp", "iat", "nonce", "name"]
            + ["preferred_username"],
        }

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> OIDCProvider:
        provider = self

        class Handler(_Handler):
            oidc = provider

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="oidc-provider", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        if self._thread is not None:
            self._thread.join(5)

    def __enter__(self) -> OIDCProvider:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- the flow --------------------------------------------------------------------------

    def authorize(self, params: dict[str, str]) -> tuple[int, str] | str:
        """Check an authorization request; return the pending request's id, or an error page
        (status, text) when the client or redirect URI is wrong (never redirect to those)."""
        if params.get("client_id") != self.client_id:
            return 400, "unknown client_id"
        if params.get("redirect_uri") not in self.redirect_uris:
            return 400, "redirect_uri is not registered for this client"
        if params.get("response_type") != "code":
            return 400, "only response_type=code is supported"
        if "openid" not in params.get("scope", "").split():
            return 400, "the openid scope is required"
        method = params.get("code_challenge_method")
        if params.get("code_challenge") and method != "S256":
            return 400, "only S256 PKCE is supported"
        request_id = secrets.token_urlsafe(16)
        with self._lock:
            self._pending[request_id] = _Pending(
                client_id=params["client_id"],
                redirect_uri=params["redirect_uri"],
                state=params.get("state"),
                nonce=params.get("nonce"),
                scope=params["scope"],
                code_challenge=params.get("code_challenge"),
                code_challenge_method=method,
            )
        self.events.append(("authorize", params["client_id"]))
        return request_id

    def sign_in(self, request_id: str, username: str, password: str) -> str | None:
        """Check the person's password; return the client redirect with a fresh code."""
        user = self.users.get(username)
        if user is None or not hmac.compare_digest(user.password, password):
            return None
        with self._lock:
            pending = self._pending.pop(request_id, None)
            if pending is None or time.monotonic() - pending.created > CODE_LIFETIME * 5:
                return None
            code = secrets.token_urlsafe(24)
            self._codes[code] = _Grant(pending, user)
        self.events.append(("sign_in", username))
        query = {"code": code}
        if pending.state is not None:
            query["state"] = pending.state
        return f"{pending.redirect_uri}?{urlencode(query)}"

    def token(self, form: dict[str, str], authorization: str | None) -> tuple[int, dict]:
        client_id, client_secret = form.get("client_id"), form.get("client_secret")
        if authorization and authorization.startswith("Basic "):
            decoded = base64.b64decode(authorization[6:]).decode()
            client_id, _, client_secret = decoded.partition(":")
            # RFC 6749 2.3.1: the client credentials are form-encoded before Basic.
            client_id = parse_qs(f"x={client_id}")["x"][0] if client_id else client_id
            client_secret = parse_qs(f"x={client_secret}")["x"][0] if client_secret else ""
        if client_id != self.client_id or not hmac.compare_digest(
            client_secret or "", self.client_secret
        ):
            return 401, {"error": "invalid_client"}
        if form.get("grant_type") != "authorization_code":
            return 400, {"error": "unsupported_grant_type"}
        with self._lock:
            grant = self._codes.pop(form.get("code", ""), None)  # single use
        if grant is None or time.monotonic() - grant.created > CODE_LIFETIME:
            return 400, {"error": "invalid_grant", "error_description": "unknown or used code"}
        pending = grant.pending
        if pending.client_id != client_id or form.get("redirect_uri") != pending.redirect_uri:
            return 400, {"error": "invalid_grant", "error_description": "redirect_uri mismatch"}
        if pending.code_challenge:
            verifier = form.get("code_verifier", "")
            expected = _b64(hashlib.sha256(verifier.encode()).digest())
            if not hmac.compare_digest(expected, pending.code_challenge):
                return 400, {"error": "invalid_grant", "error_description": "PKCE check failed"}
        access_token = secrets.token_urlsafe(32)
        with self._lock:
            self._tokens[access_token] = (grant.user, time.monotonic())
        now = int(time.time())
        claims = {
            "iss": self.issuer,
            "aud": client_id,
            "iat": now,
            "exp": now + TOKEN_LIFETIME,
            "auth_time": now,
            # at_hash: the left half of the access token's SHA-256 (OIDC Core 3.1.3.6).
            "at_hash": _b64(hashlib.sha256(access_token.encode()).digest()[:16]),
            **grant.user.claims,
        }
        if pending.nonce is not None:
            claims["nonce"] = pending.nonce
        id_token = jwt.encode({"alg": "RS256", "kid": self.key.kid}, claims, self.key)
        self.events.append(("token", grant.user.username))
        return 200, {
            "access_token": access_token,
            "token_type": "Bearer",
            "expires_in": TOKEN_LIFETIME,
            "scope": pending.scope,
            "id_token": id_token,
        }

    def userinfo(self, authorization: str | None) -> tuple[int, dict]:
        token = (authorization or "").removeprefix("Bearer ").strip()
        with self._lock:
            found = self._tokens.get(token)
        if found is None or time.monotonic() - found[1] > TOKEN_LIFETIME:
            return 401, {"error": "invalid_token"}
        self.events.append(("userinfo", found[0].username))
        return 200, found[0].claims

    def jwks(self) -> dict[str, Any]:
        return {"keys": [self.key.as_dict(private=False, use="sig", alg="RS256")]}


_FORM = """<!doctype html>
<html><head><meta charset="utf-8"><title>Test IdP: sign in</title></head>
<body><h1>Test IdP</h1>{error}
<form id="idp-login" method="post" action="/authorize">
<input type="hidden" name="request_id" value="{request_id}">
<label>Username <input name="username" autocomplete="username"></label>
<label>Password <input name="password" type="password"></label>
<button type="submit">Sign in to Test IdP</button>
</form></body></html>
"""


class _Handler(BaseHTTPRequestHandler):
    oidc: OIDCProvider
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        return None

    def _send(self, status: int, body: bytes, content_type: str, **headers: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        for name, value in headers.items():
            self.send_header(name.replace("_", "-"), value)
        self.end_headers()
        self.wfile.write(body)

    def _json(self, status: int, payload: dict) -> None:
        self._send(status, json.dumps(payload).encode(), "application/json")

    def _text(self, status: int, text: str) -> None:
        self._send(status, text.encode(), "text/plain; charset=utf-8")

    def _form_page(self, request_id: str, error: str = "") -> None:
        error_html = f'<p id="idp-error">{html.escape(error)}</p>' if error else ""
        page = _FORM.format(request_id=html.escape(request_id, quote=True), error=error_html)
        self._send(200, page.encode(), "text/html; charset=utf-8")

    def _read_form(self) -> dict[str, str]:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length).decode()
        return {key: values[0] for key, values in parse_qs(raw).items()}

    def do_GET(self) -> None:  # noqa: N802 - stdlib name
        parts = urlsplit(self.path)
        params = {key: values[0] for key, values in parse_qs(parts.query).items()}
        if parts.path == "/.well-known/openid-configuration":
            self._json(200, self.oidc.metadata())
        elif parts.path == "/jwks":
            self._json(200, self.oidc.jwks())
        elif parts.path == "/authorize":
            outcome = self.oidc.authorize(params)
            if isinstance(outcome, tuple):
                self._text(*outcome)
            else:
                self._form_page(outcome)
        elif parts.path == "/userinfo":
            self._json(*self.oidc.userinfo(self.headers.get("Authorization")))
        else:
            self._text(404, "not found")

    def do_POST(self) -> None:  # noqa: N802 - stdlib name
        path = urlsplit(self.path).path
        form = self._read_form()
        if path == "/authorize":
            request_id = form.get("request_id", "")
            target = self.oidc.sign_in(
                request_id, form.get("username", ""), form.get("password", "")
            )
            if target is None:
                self._form_page(request_id, "Wrong username or password.")
            else:
                self._send(302, b"", "text/plain", Location=target)
        elif path == "/token":
            self._json(*self.oidc.token(form, self.headers.get("Authorization")))
        elif path == "/userinfo":
            self._json(*self.oidc.userinfo(self.headers.get("Authorization")))
        else:
            self._text(404, "not found")


def sso_homeserver_config(provider: OIDCProvider, synapse_url: str) -> dict[str, Any]:
    """The homeserver.yaml keys that make Synapse offer `provider` as identity provider
    "Test IdP" (id `oidc-test` in `/login`). Registers Synapse's callback with the provider."""
    provider.redirect_uris.add(synapse_url.rstrip("/") + "/_synapse/client/oidc/callback")
    return {
        "oidc_providers": [
            {
                "idp_id": "test",
                "idp_name": "Test IdP",
                "issuer": provider.issuer,
                "client_id": provider.client_id,
                "client_secret": provider.client_secret,
                "scopes": ["openid", "profile"],
                # The issuer is plain http on loopback; Synapse insists on https otherwise.
                "skip_verification": True,
                "user_mapping_provider": {
                    "config": {
                        "localpart_template": "{{ user.preferred_username }}",
                        "display_name_template": "{{ user.name }}",
                    }
                },
            }
        ],
    }


_HIDDEN = 'name="request_id" value="'


def sign_in_form(page_html: str) -> str:
    """The `request_id` of the provider's sign-in form (for clients without a browser)."""
    start = page_html.index(_HIDDEN) + len(_HIDDEN)
    return html.unescape(page_html[start : page_html.index('"', start)])


@dataclass
class SSOStack:
    idp: OIDCProvider
    synapse: LocalSynapse
    webclient: Any  # tests.server.WebclientServer

    # Synapse names an OIDC provider `oidc-{idp_id}` in `/login` and its redirect URLs.
    idp_id: str = "oidc-test"


@contextmanager
def sso_stack(data_dir: Path) -> Iterator[SSOStack]:
    """The OIDC provider, a Synapse that offers it for single sign-on, and the client run by
    daphne with MATRIX_HOMESERVER pointing at that Synapse."""
    from tests.server import free_port, start_webclient, stop_webclient

    with OIDCProvider() as idp:
        port = free_port()
        config = sso_homeserver_config(idp, f"http://127.0.0.1:{port}")
        with LocalSynapse(data_dir / "synapse", port=port, extra_config=config) as hs:
            (data_dir / "webclient").mkdir(parents=True, exist_ok=True)
            server = start_webclient(data_dir / "webclient", hs.url)
            try:
                yield SSOStack(idp, hs, server)
            finally:
                stop_webclient(server)
