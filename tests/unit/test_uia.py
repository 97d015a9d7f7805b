"""Reading a user-interactive authentication challenge (webclient.matrix.uia): whether a
password is enough, and the message when it is not.

Pure functions: no homeserver, no client."""

from __future__ import annotations


def test_uia_challenge_reading():
    from webclient.matrix import uia

    sso_only = uia.Challenge.from_payload(
        {"flows": [{"stages": ["m.login.sso"]}], "session": "abc", "params": {}}
    )
    assert sso_only is not None and sso_only.session == "abc"
    assert not sso_only.password_is_enough
    assert "m.login.sso" in uia.unsupported(sso_only, "Signing out devices").message
    password = uia.Challenge.from_payload(
        {"flows": [{"stages": ["m.login.sso"]}, {"stages": ["m.login.password"]}]}
    )
    assert password is not None and password.password_is_enough
    two_stages = uia.Challenge.from_payload(
        {"flows": [{"stages": ["m.login.password", "m.login.terms"]}]}
    )
    assert two_stages is not None and not two_stages.password_is_enough
    assert uia.Challenge.from_payload({"errcode": "M_UNKNOWN_TOKEN"}) is None
