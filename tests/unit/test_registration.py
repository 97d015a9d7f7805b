"""Registration's choices (webclient.matrix.registration): which flow to follow, and the
terms a homeserver asks to accept.

Pure functions: no homeserver, no client."""

from __future__ import annotations

import pytest

from webclient.matrix import registration as register


def test_choose_flow_prefers_short_flows_without_a_token():
    flows = [[register.TOKEN, register.DUMMY], [register.DUMMY], ["m.login.email.identity"]]
    assert register.choose_flow(flows, have_token=False) == [register.DUMMY]
    assert register.choose_flow(flows, have_token=True) == [register.DUMMY]
    only_token = [[register.TOKEN, register.TERMS, register.DUMMY]]
    assert register.choose_flow(only_token, have_token=True) == only_token[0]
    with pytest.raises(register.RegistrationError) as need:
        register.choose_flow(only_token, have_token=False)
    assert need.value.message == register.NEED_TOKEN
    with pytest.raises(register.RegistrationError) as unsupported:
        register.choose_flow(
            [["m.login.email.identity"], ["m.login.msisdn", "m.login.email.identity"]], False
        )
    assert unsupported.value.message.startswith(
        "This homeserver needs an email address or a phone number to create an account"
    )


def test_parse_policies_picks_english_and_rejects_broken_terms():
    params = {
        register.TERMS: {
            "policies": {
                "terms_of_service": {
                    "version": "1.2",
                    "fr": {"name": "Conditions", "url": "https://example.org/fr"},
                    "en-GB": {"name": "Terms", "url": "https://example.org/en"},
                },
                "privacy": {"version": "2", "de": {"name": "Datenschutz", "url": "http://e.de/p"}},
            }
        }
    }
    assert register.parse_policies(params) == [
        {
            "id": "terms_of_service",
            "name": "Terms",
            "url": "https://example.org/en",
            "version": "1.2",
        },
        {"id": "privacy", "name": "Datenschutz", "url": "http://e.de/p", "version": "2"},
    ]
    for broken in (
        {},
        {register.TERMS: {"policies": {}}},
        {register.TERMS: {"policies": {"p": {"en": {"name": "P", "url": "javascript:alert(1)"}}}}},
        {register.TERMS: {"policies": {"p": {"en": {"name": "", "url": "https://e.org"}}}}},
        {register.TERMS: {"policies": {"p": "not a dict"}}},
    ):
        with pytest.raises(register.RegistrationError) as bad:
            register.parse_policies(broken)
        assert bad.value.message == register.BAD_TERMS
