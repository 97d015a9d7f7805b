"""SAS building blocks (webclient.matrix.crypto.sas) with vodozemac's SAS on both sides: the
negotiation, the commitment, the short strings and the MACs (both MAC methods). That they
agree with Element's is tested against matrix-js-sdk in tests/integration/test_verification.py.
"""

from __future__ import annotations

import vodozemac

from webclient.matrix.crypto import sas

TXN = "txn-1"
ALICE = ("@alice:example.org", "ALICEDEV")
BOB = ("@bob:example.org", "BOBDEV")


def test_the_emoji_table_is_the_specs():
    assert len(sas.EMOJI) == 64
    assert sas.EMOJI[0] == ("\U0001f436", "Dog")
    assert sas.EMOJI[21] == ("\u2601\ufe0f", "Cloud")
    assert sas.EMOJI[36] == ("\U0001f44d", "Thumbs Up")
    assert sas.EMOJI[38] == ("\u231b", "Hourglass")
    assert sas.EMOJI[41] == ("\U0001f4a1", "Light Bulb")
    assert sas.EMOJI[56] == ("\u26bd", "Ball")
    assert sas.EMOJI[63] == ("\U0001f4cc", "Pin")
    assert len({name for _symbol, name in sas.EMOJI}) == 64


def test_choosing_from_a_start_prefers_the_v2_mac():
    start = sas.start_content(TXN, "ALICEDEV")
    agreement = sas.choose(start)
    assert agreement == sas.Agreement(sas.MAC_V2, ("decimal", "emoji"))
    old_only = {**start, "message_authentication_codes": ["hkdf-hmac-sha256"]}
    assert sas.choose(old_only).mac_method == sas.MAC_OLD
    decimal_only = {**start, "short_authentication_string": ["decimal"]}
    assert sas.choose(decimal_only).sas_methods == ("decimal",)


def test_a_start_without_anything_in_common_is_refused():
    start = sas.start_content(TXN, "ALICEDEV")
    assert sas.choose({**start, "method": "m.qr_code.show.v1"}) is None
    assert sas.choose({**start, "key_agreement_protocols": ["curve25519"]}) is None
    assert sas.choose({**start, "hashes": ["sha512"]}) is None
    assert sas.choose({**start, "message_authentication_codes": ["hmac-sha256"]}) is None
    assert sas.choose({**start, "short_authentication_string": []}) is None


def test_an_accept_must_choose_what_was_offered():
    accept = sas.Agreement(sas.MAC_V2, ("emoji",)).accept_content(TXN, "commitment")
    assert sas.check_accept(accept) == sas.Agreement(sas.MAC_V2, ("emoji",))
    assert sas.check_accept({**accept, "message_authentication_code": "x"}) is None
    assert sas.check_accept({**accept, "hash": "sha512"}) is None
    assert sas.check_accept({**accept, "short_authentication_string": []}) is None
    assert sas.check_accept({k: v for k, v in accept.items() if k != "commitment"}) is None


def _run(mac_method: str):
    """Alice starts, Bob accepts; both sides' established SAS and the info strings."""
    start = sas.start_content(TXN, ALICE[1])
    alice, bob = vodozemac.Sas(), vodozemac.Sas()
    alice_key, bob_key = alice.public_key.to_base64(), bob.public_key.to_base64()
    commitment = sas.commitment(bob_key, start)
    # Alice checks Bob's key against the commitment he sent with his accept.
    assert sas.same(sas.commitment(bob_key, start), commitment)
    assert not sas.same(sas.commitment(alice_key, start), commitment)
    info = sas.sas_info((*ALICE, alice_key), (*BOB, bob_key), TXN)
    a = alice.diffie_hellman(vodozemac.Curve25519PublicKey.from_base64(bob_key))
    b = bob.diffie_hellman(vodozemac.Curve25519PublicKey.from_base64(alice_key))
    return a, b, info


def test_both_sides_see_the_same_emoji_and_numbers():
    a, b, info = _run(sas.MAC_V2)
    emoji_a, numbers_a = sas.short_strings(a, info)
    emoji_b, numbers_b = sas.short_strings(b, info)
    assert emoji_a == emoji_b and len(emoji_a) == 7
    assert numbers_a == numbers_b
    assert all(1000 <= n <= 9191 for n in numbers_a)
    other = sas.sas_info((*ALICE, "x"), (*BOB, "y"), TXN)
    assert sas.short_strings(a, other) != (emoji_a, numbers_a)


def test_macs_check_on_the_other_side_with_either_method():
    for method in sas.MAC_METHODS:
        a, b, _info = _run(method)
        sent = sas.mac_info(ALICE, BOB, TXN)
        keys = {"ed25519:ALICEDEV": "devicekey", "ed25519:masterkey": "masterkey"}
        content = sas.mac_content(a, method, sent, keys, TXN)
        assert content["transaction_id"] == TXN and set(content["mac"]) == set(keys)
        key_ids = ",".join(sorted(content["mac"]))
        assert key_ids == "ed25519:ALICEDEV,ed25519:masterkey"
        assert sas.mac_matches(b, method, key_ids, sent + "KEY_IDS", content["keys"])
        for key_id, key in keys.items():
            assert sas.mac_matches(b, method, key, sent + key_id, content["mac"][key_id])
            assert not sas.mac_matches(b, method, "forged", sent + key_id, content["mac"][key_id])
        # The direction is in the info: a MAC from Bob to Alice is not one from Alice.
        back = sas.mac_info(BOB, ALICE, TXN)
        assert not sas.mac_matches(b, method, key_ids, back + "KEY_IDS", content["keys"])
        assert not sas.mac_matches(b, method, key_ids, sent + "KEY_IDS", None)


def test_the_old_mac_is_encoded_differently():
    a, _b, info = _run(sas.MAC_OLD)
    assert sas.calculate_mac(a, sas.MAC_OLD, "key", info) != sas.calculate_mac(
        a, sas.MAC_V2, "key", info
    )
