"""Settings → Encryption → Verify with another device: emoji (SAS) verification, without
JavaScript.

The page lists what `matrix/verification.py` keeps for this device: requests from other
devices (Accept / Decline), our own request while it waits, the 7 emoji (with their names)
and 3 numbers to compare ("They match" / "They don't match"), and how each verification
ended. While one is under way the page reloads itself every 2 seconds (a meta refresh; no
script runs under the CSP). Every button is a small form posted here, told apart by its
hidden `form` field, and answered with a redirect back.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.utils.cache import add_never_cache_headers

from webclient.live.devices import device_op
from webclient.matrix import errors, verification
from webclient.matrix.session import MatrixSession
from webclient.web.forms import FormPage
from webclient.web.rooms import session_of

#: Seconds between reloads while a verification is under way.
REFRESH_SECONDS = 2


class RequestForm(forms.Form):
    """Ask all the user's other devices (no fields)."""


class TransactionForm(forms.Form):
    transaction_id = forms.CharField(max_length=255)


#: Buttons on one verification: form name -> what it does.
ACTIONS = {
    "accept": verification.Verifications.accept,
    "decline": verification.Verifications.decline,
    "start": verification.Verifications.start,
    "match": verification.Verifications.confirm,
    "mismatch": verification.Verifications.mismatch,
    "cancel": verification.Verifications.cancel,
}


class VerifyPage(FormPage):
    template_name = "accounts/verify.html"
    forms = {  # noqa: RUF012 - FormPage's declaration
        "request": RequestForm,
        **dict.fromkeys(ACTIONS, TransactionForm),
    }

    async def context(self, request: HttpRequest, **kwargs: Any) -> dict[str, Any]:
        session = await session_of(request)
        return await session.run(verify_context)

    async def page(self, request: HttpRequest, **kwargs: Any) -> HttpResponse:
        response = await super().page(request, **kwargs)
        add_never_cache_headers(response)
        return response

    async def submit(
        self, request: HttpRequest, name: str, form: forms.Form, **kwargs: Any
    ) -> HttpResponse:
        session = await session_of(request)
        await session.run(
            verify_action, name=name, transaction_id=form.cleaned_data.get("transaction_id", "")
        )
        return self.done(reverse("accounts:verify"))


# -- what the device's owner does (the verifications live in its session) ---------------------


def _shown(v: verification.Verification) -> dict[str, Any]:
    """What the page shows of one verification."""
    return {
        "transaction_id": v.transaction_id,
        "phase": str(v.phase),
        "cancel_code": v.cancel_code,
        "incoming": v.incoming,
        "other_user_id": v.other_user_id,
        "other_device_id": v.other_device_id,
        "supported": v.supported,
        "emoji": [list(pair) for pair in v.emoji],
        "decimals": list(v.decimals) if v.decimals else None,
        "outcome": v.outcome,
        "cancel_text": v.cancel_text,
        "active": v.active,
    }


@device_op
async def verify_context(session: MatrixSession) -> dict[str, Any]:
    try:
        verifications = verification.of(session)
    except errors.MatrixError as exc:
        verifications, problem = None, exc.message
    else:
        problem = ""
    # The page reloads every 2 s while a verification runs: the cached keys do (they are
    # asked again when the device list changes), no keys query per reload.
    crypto = session.crypto
    state = {
        "enabled": verifications is not None,
        "problem": problem,
        "cross_signed": verifications is not None
        and crypto is not None
        and (await crypto.identity(session.user_id)).device_cross_signed(crypto.device_id),
    }
    shown = verifications.shown() if verifications is not None else []
    return {
        "state": state,
        "verifications": [_shown(v) for v in shown],
        "secret_notes": list(verifications.secrets.notes) if verifications is not None else [],
        "waiting_for_secrets": verifications is not None and verifications.secrets.waiting,
        "refresh_seconds": REFRESH_SECONDS if verifications and verifications.busy else 0,
    }


@device_op(once=True)
async def verify_action(session: MatrixSession, name: str, transaction_id: str) -> None:
    verifications = verification.of(session)
    if name == "request":
        await verifications.send_request()
    else:
        await ACTIONS[name](verifications, transaction_id)
