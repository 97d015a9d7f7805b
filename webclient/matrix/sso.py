"""Single sign-on, homeserver side (spec: "Client login via SSO"): which identity providers a
homeserver offers (`GET /login`), and where to send the browser to start. The login token
the homeserver hands back is exchanged by `auth.sso_login`."""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlencode

from .api import CLIENT, HomeserverApi, q

# Spec: an identity provider's `id` is 1-255 characters from this set.
IDP_ID_RE = re.compile(r"^[A-Za-z0-9._~-]{1,255}$")


@dataclass(frozen=True)
class IdentityProvider:
    id: str
    name: str


def parse_providers(body: object) -> list[IdentityProvider] | None:
    """The identity providers of an `m.login.sso` flow in a `GET /login` answer, or None when
    the homeserver offers no single sign-on. An empty list means SSO without named providers
    (the homeserver picks or asks)."""
    flows = body.get("flows") if isinstance(body, dict) else None
    if not isinstance(flows, list):
        return None
    sso = next((f for f in flows if isinstance(f, dict) and f.get("type") == "m.login.sso"), None)
    if sso is None:
        return None
    found: list[IdentityProvider] = []
    raw = sso.get("identity_providers")
    for item in raw if isinstance(raw, list) else []:
        if not isinstance(item, dict):
            continue
        idp_id, name = item.get("id"), item.get("name")
        if not isinstance(idp_id, str) or not IDP_ID_RE.fullmatch(idp_id):
            continue
        if not isinstance(name, str) or not name.strip():
            name = idp_id
        found.append(IdentityProvider(idp_id, name.strip()[:100]))
    return found


async def identity_providers(homeserver: str) -> list[IdentityProvider] | None:
    """Ask a (resolved) homeserver whether it offers SSO, and through which providers;
    raises `MatrixError` when it cannot be asked."""
    async with HomeserverApi(homeserver) as api:
        return parse_providers(await api.login_flows())


def redirect_url(homeserver: str, callback: str, idp: str = "") -> str:
    """Where the browser starts single sign-on (`/login/sso/redirect[/{idpId}]`); the
    homeserver sends it back to `callback` with a `loginToken`."""
    path = f"{homeserver.rstrip('/')}{CLIENT}/v3/login/sso/redirect"
    if idp:
        path += "/" + q(idp)
    return f"{path}?{urlencode({'redirectUrl': callback})}"
