"""Cross-signing (webclient.matrix.crypto.cross_signing), against keys/query data and secrets
made by matrix-js-sdk's and matrix-rust-sdk's test suites, and vodozemac device accounts."""

from __future__ import annotations

import copy

import pytest
import vodozemac

from webclient.matrix.crypto.cross_signing import (
    CrossSigningKeys,
    build_device_signing_upload,
    build_signatures_upload,
    device_ed25519_key,
    device_id_collisions,
    is_device_cross_signed,
    is_user_verified,
    keys_match_published,
    master_key_of,
    private_key_from_secret,
    private_key_matches,
    secret_to_seed,
    seed_to_secret,
    self_signing_key_of,
    sign_device,
    sign_master_key,
    user_signing_key_of,
)
from webclient.matrix.crypto.errors import MalformedData
from webclient.matrix.crypto.recovery import decode_recovery_key
from webclient.matrix.crypto.secret_storage import (
    CROSS_SIGNING_MASTER,
    CROSS_SIGNING_SELF_SIGNING,
    CROSS_SIGNING_USER_SIGNING,
    decrypt_secret,
)
from webclient.matrix.crypto.signing import public_key_b64, verify_signature

# --- matrix-js-sdk spec/test-utils/crypto-test-data/index.ts ---------------------------------

ALICE = "@alice:localhost"
ALICE_MASTER_PUBLIC = "J+5An10v1vzZpAXTYFokD1/PEVccFnLC61EfRXit0UY"
ALICE_SSK_PUBLIC = "aU2+2CyXQTCuDcmWW0EL2bhJ6PdjFW2LbAsbHqf02AY"
ALICE_USK_PUBLIC = "g5TC/zjQXyZYuDLZv7a41z5fFVrXpYPypG//AFQj8hY"
ALICE_SECRETS = {
    "master": "ZG95b3VzcGVha3doYWFhYWFhYWFhYWFhYWFhYWFhbGU",
    "self_signing": "c2VsZnNlbGZzZWxmc2VsZnNlbGZzZWxmc2VsZnNlbGY",
    "user_signing": "dXNlcnVzZXJ1c2VydXNlcnVzZXJ1c2VydXNlcnVzZXI",
}
ALICE_DEVICE = {
    "algorithms": ["m.olm.v1.curve25519-aes-sha2", "m.megolm.v1.aes-sha2"],
    "device_id": "test_device",
    "keys": {
        "curve25519:test_device": "F4uCNNlcbRvc7CfBz95ZGWBvY1ALniG1J8+6rhVoKS0",
        "ed25519:test_device": "YI/7vbGVLpGdYtuceQR8MSsKB/QjgfMXM1xqnn+0NWU",
    },
    "user_id": ALICE,
    "signatures": {
        ALICE: {
            "ed25519:test_device": "LmQC/yAUZJmkxZ+3L0nEwvtVWOzjqQqADWBhk+C47SPaFYHeV+E291mgXaSCJ"
            "VeGltX+HC49Aw7nb6ga7sw0Aw"
        }
    },
}
ALICE_CROSS_SIGNING = {
    "master_keys": {
        ALICE: {
            "keys": {f"ed25519:{ALICE_MASTER_PUBLIC}": ALICE_MASTER_PUBLIC},
            "user_id": ALICE,
            "usage": ["master"],
        }
    },
    "self_signing_keys": {
        ALICE: {
            "keys": {f"ed25519:{ALICE_SSK_PUBLIC}": ALICE_SSK_PUBLIC},
            "user_id": ALICE,
            "usage": ["self_signing"],
            "signatures": {
                ALICE: {
                    f"ed25519:{ALICE_MASTER_PUBLIC}": "XfhYEhZmOs8BJdb3viatILBZ/bElsHXEW28V4tIaY5"
                    "CxrBR0YOym3yZHWmRmypXessHZAKOhZn3yBMXzdajyCw"
                }
            },
        }
    },
    "user_signing_keys": {
        ALICE: {
            "keys": {f"ed25519:{ALICE_USK_PUBLIC}": ALICE_USK_PUBLIC},
            "user_id": ALICE,
            "usage": ["user_signing"],
            "signatures": {
                ALICE: {
                    f"ed25519:{ALICE_MASTER_PUBLIC}": "6AkD1XM2H0/ebgP9oBdMKNeft7uxsrb0XN1CsjjHge"
                    "ZCvCTMmv3BHlLiT/Hzy4fe8H+S1tr484dcXN/PIdnfDA"
                }
            },
        }
    },
}

BOB = "@bob:xyz"
BOB_MASTER_PUBLIC = "KKVOHOB2LsW7hFJwqyzXpA+vp7u5+gaMWUJvBS7mjuA"
BOB_ALT_MASTER_PUBLIC = "MCYxU7myKVkoQ55VYw/rXdg5cEupRfDdHmFPJUmR5+E"
BOB_SSK_PUBLIC = "DaScI3WulBvDjf/d2vdyP5Cgjdypn1c/PSDX23MgN+A"
BOB_SECRETS = {
    "master": "RG95b3VzcGVha3doYWFhYWFhYWFhYWFhYWFhYWFhbGU",
    "self_signing": "U2VsZnNlbGZzZWxmc2VsZnNlbGZzZWxmc2VsZnNlbGY",
    "user_signing": "VXNlcnVzZXJ1c2VydXNlcnVzZXJ1c2VydXNlcnVzZXI",
}
BOB_DEVICE = {
    "algorithms": ["m.olm.v1.curve25519-aes-sha2", "m.megolm.v1.aes-sha2"],
    "device_id": "bob_device",
    "keys": {
        "curve25519:bob_device": "F4uCNNlcbRvc7CfBz95ZGWBvY1ALniG1J8+6rhVoKS0",
        "ed25519:bob_device": "jmY0h8QS6Te6gxyjOmMc0eKOqmbAtXpVo4CCWFubk50",
    },
    "user_id": BOB,
    "signatures": {
        BOB: {
            "ed25519:bob_device": "4ApBs9jaeGyfdYaWRUdBvQAkDyXjACJ9KJ0xLHMgiFT/1yo6VqPTx2iziKGnrB"
            "iGhbtKNxEhDPOvZZkBU73cDQ"
        }
    },
}
BOB_MASTER = {
    "keys": {f"ed25519:{BOB_MASTER_PUBLIC}": BOB_MASTER_PUBLIC},
    "user_id": BOB,
    "usage": ["master"],
}
BOB_SSK = {
    "keys": {f"ed25519:{BOB_SSK_PUBLIC}": BOB_SSK_PUBLIC},
    "user_id": BOB,
    "usage": ["self_signing"],
    "signatures": {
        BOB: {
            f"ed25519:{BOB_MASTER_PUBLIC}": "RxM8iJU6ZkyzQSVtNnXIJMPyEahVsN+fQQTBNKAs+kqySFyXBgch"
            "x+8czZaAhJCpXh9gD1nskT4yyFd2eyUXBw"
        }
    },
}
# BOB_ALT_SIGNED_CROSS_SIGNING_KEYS_DATA: Bob reset his master key; same SSK, new signature.
BOB_ALT_MASTER = {
    "keys": {f"ed25519:{BOB_ALT_MASTER_PUBLIC}": BOB_ALT_MASTER_PUBLIC},
    "user_id": BOB,
    "usage": ["master"],
}
BOB_ALT_SSK = {
    **BOB_SSK,
    "signatures": {
        BOB: {
            f"ed25519:{BOB_ALT_MASTER_PUBLIC}": "eDZETBRUw9yW0WJnBZ7vxo12TW09Yb7/47qBPKZzPZzZEvs9"
            "M82dnAOtWUv00mcTdp2K9GpeFYDQJ6qLQgxaCA"
        }
    },
}


def alice_query(**extra) -> dict:
    query = copy.deepcopy(ALICE_CROSS_SIGNING)
    query["device_keys"] = {ALICE: {"test_device": copy.deepcopy(ALICE_DEVICE)}}
    for section, users in extra.items():
        query.setdefault(section, {}).update(copy.deepcopy(users))
    return query


def test_js_sdk_private_keys_match_their_public_keys() -> None:
    keys = CrossSigningKeys.from_secrets(
        ALICE_SECRETS["master"], ALICE_SECRETS["self_signing"], ALICE_SECRETS["user_signing"]
    )
    assert keys.master_public == ALICE_MASTER_PUBLIC
    assert keys.self_signing_public == ALICE_SSK_PUBLIC
    assert keys.user_signing_public == ALICE_USK_PUBLIC
    assert keys_match_published(alice_query(), ALICE, keys) == {
        "master": True,
        "self_signing": True,
        "user_signing": True,
    }
    bobs = CrossSigningKeys.from_secrets(*BOB_SECRETS.values())
    assert keys_match_published(alice_query(), ALICE, bobs) == {
        "master": False,
        "self_signing": False,
        "user_signing": False,
    }
    assert private_key_matches(ALICE_SECRETS["self_signing"], ALICE_SSK_PUBLIC)
    assert not private_key_matches(ALICE_SECRETS["self_signing"], ALICE_MASTER_PUBLIC)


def test_js_sdk_keys_query_chain() -> None:
    query = alice_query()
    assert master_key_of(query, ALICE) == ALICE_MASTER_PUBLIC
    assert self_signing_key_of(query, ALICE) == ALICE_SSK_PUBLIC
    assert user_signing_key_of(query, ALICE) == ALICE_USK_PUBLIC
    assert device_ed25519_key(ALICE_DEVICE, ALICE, "test_device") == (
        "YI/7vbGVLpGdYtuceQR8MSsKB/QjgfMXM1xqnn+0NWU"
    )
    # The test device is only self-signed in that data: not cross-signed yet.
    assert not is_device_cross_signed(query, ALICE, "test_device")


def test_signing_a_real_device_with_the_real_ssk_makes_it_cross_signed() -> None:
    keys = CrossSigningKeys.from_secrets(*ALICE_SECRETS.values())
    signed = sign_device(ALICE_DEVICE, ALICE, keys.self_signing)
    assert set(signed["signatures"][ALICE]) == {f"ed25519:{ALICE_SSK_PUBLIC}"}
    body = build_signatures_upload(signed)
    assert body == {ALICE: {"test_device": signed}}
    # What the server does: merge the new signature into the stored device keys.
    query = alice_query()
    stored = query["device_keys"][ALICE]["test_device"]
    stored["signatures"][ALICE].update(signed["signatures"][ALICE])
    assert is_device_cross_signed(query, ALICE, "test_device")


def test_cross_signed_device_negative_cases() -> None:
    keys = CrossSigningKeys.from_secrets(*ALICE_SECRETS.values())
    signed = sign_device(ALICE_DEVICE, ALICE, keys.self_signing)

    def query_with_signed_device() -> dict:
        query = alice_query()
        stored = query["device_keys"][ALICE]["test_device"]
        stored["signatures"][ALICE].update(signed["signatures"][ALICE])
        return query

    assert is_device_cross_signed(query_with_signed_device(), ALICE, "test_device")

    changed = query_with_signed_device()
    changed["device_keys"][ALICE]["test_device"]["keys"]["curve25519:test_device"] = "AAAA"
    assert not is_device_cross_signed(changed, ALICE, "test_device"), "altered device keys"

    forged_ssk = query_with_signed_device()
    forged_ssk["self_signing_keys"][ALICE]["signatures"][ALICE][
        f"ed25519:{ALICE_MASTER_PUBLIC}"
    ] = forged_ssk["user_signing_keys"][ALICE]["signatures"][ALICE][
        f"ed25519:{ALICE_MASTER_PUBLIC}"
    ]
    assert not is_device_cross_signed(forged_ssk, ALICE, "test_device"), "SSK not signed"

    no_master = query_with_signed_device()
    del no_master["master_keys"]
    assert not is_device_cross_signed(no_master, ALICE, "test_device")

    wrong_usage = query_with_signed_device()
    wrong_usage["self_signing_keys"][ALICE]["usage"] = ["user_signing"]
    assert not is_device_cross_signed(wrong_usage, ALICE, "test_device")

    not_self_signed = query_with_signed_device()
    del not_self_signed["device_keys"][ALICE]["test_device"]["signatures"][ALICE][
        "ed25519:test_device"
    ]
    assert not is_device_cross_signed(not_self_signed, ALICE, "test_device")

    assert not is_device_cross_signed(query_with_signed_device(), ALICE, "other_device")
    assert not is_device_cross_signed(query_with_signed_device(), BOB, "test_device")


def test_device_id_equal_to_a_cross_signing_key_is_refused(monkeypatch) -> None:
    # Spec "Key and signature security": device and cross-signing key IDs share a namespace.
    # A server presents the SSK itself as a "device" whose ID is the SSK's public key: the
    # SSK's signature then doubles as the device's self-signature.
    keys = CrossSigningKeys.from_secrets(*ALICE_SECRETS.values())
    fake_device = {
        "user_id": ALICE,
        "device_id": ALICE_SSK_PUBLIC,
        "algorithms": ["m.megolm.v1.aes-sha2"],
        "keys": {f"ed25519:{ALICE_SSK_PUBLIC}": ALICE_SSK_PUBLIC},
    }
    fake_device = sign_device(fake_device, ALICE, keys.self_signing)
    query = alice_query(device_keys={ALICE: {ALICE_SSK_PUBLIC: fake_device}})
    assert device_id_collisions(query, ALICE) == {ALICE_SSK_PUBLIC}
    assert not is_device_cross_signed(query, ALICE, ALICE_SSK_PUBLIC)
    # It is the collision check that refuses it: every signature in there is valid.
    import webclient.matrix.crypto.cross_signing as module

    monkeypatch.setattr(module, "device_id_collisions", lambda *_: set())
    assert is_device_cross_signed(query, ALICE, ALICE_SSK_PUBLIC)


def test_verifying_another_user_with_the_real_usk() -> None:
    alice = CrossSigningKeys.from_secrets(*ALICE_SECRETS.values())
    signed = sign_master_key(BOB_MASTER, ALICE, alice.user_signing)
    assert build_signatures_upload(signed) == {BOB: {BOB_MASTER_PUBLIC: signed}}
    assert verify_signature(signed, ALICE, f"ed25519:{ALICE_USK_PUBLIC}", ALICE_USK_PUBLIC)

    bob_master = copy.deepcopy(BOB_MASTER)
    bob_master["signatures"] = signed["signatures"]
    query = alice_query(master_keys={BOB: bob_master}, self_signing_keys={BOB: BOB_SSK})
    query["device_keys"][BOB] = {"bob_device": copy.deepcopy(BOB_DEVICE)}
    assert is_user_verified(query, ALICE, BOB)
    assert self_signing_key_of(query, BOB) == BOB_SSK_PUBLIC

    # Bob resets cross-signing (the js-sdk's ALT data): our signature was on the old key.
    reset = alice_query(master_keys={BOB: BOB_ALT_MASTER}, self_signing_keys={BOB: BOB_ALT_SSK})
    assert self_signing_key_of(reset, BOB) == BOB_SSK_PUBLIC
    assert not is_user_verified(reset, ALICE, BOB)

    # Without our own USK in the answer (or with an unsigned one) nothing is verified.
    no_usk = copy.deepcopy(query)
    del no_usk["user_signing_keys"]
    assert not is_user_verified(no_usk, ALICE, BOB)
    with pytest.raises(ValueError):
        is_user_verified(query, ALICE, ALICE)
    with pytest.raises(ValueError):
        sign_master_key(query["master_keys"][ALICE], ALICE, alice.user_signing)


# --- matrix-rust-sdk crates/matrix-sdk/tests/integration/encryption/secret_storage.rs --------
# (test_import_secrets): a keys/query answer and the three secrets in secret storage.

RUST_USER = "@example:morpheus.localhost"
RUST_SSSS_KEY = "EsTj 3yST y93F SLpB jJsz eAXc 2XzA ygD3 w69H fGaN TKBj jXEd"
RUST_STORED = {
    CROSS_SIGNING_MASTER: {
        "ciphertext": "lCRSSA1lChONEXj/8RyogsgAa8ouQwYDnLr4XBCheRikrZykLRzPCx3doCE=",
        "iv": "bdfCwu+ECYgZ/jWTkGrQ/A==",
        "mac": "NXeV1dZaOe2JLvQ6Hh6tFto7AgFFdaQnY0l9pruwdtE=",
    },
    CROSS_SIGNING_SELF_SIGNING: {
        "ciphertext": "+B9WD02IvtQ8S4OaquhuYEZAx20xvz0oTN7r2VM9VOBxmlOyi+KkkWOvLAo=",
        "iv": "3BCaKGCaSMkg1x9WnTqUmw==",
        "mac": "xQEDxQbPH0bYeZUFC3wYJh0lsLkP2amcFGdaZ3VdfQg=",
    },
    CROSS_SIGNING_USER_SIGNING: {
        "ciphertext": "atqNy5IDzYRkRC+lkKoflwsyHkd0dr4UeoViwJdUzexiq0M8h1i8JMkADNg=",
        "iv": "bjb1V2n9YmA8j31Z9muMqQ==",
        "mac": "vusvNuV8Kkq50VxtC78oioofVBurnTTVEhiRyZkfu/4=",
    },
}
RUST_MASTER_PUBLIC = "fKJdf5b3ga1hshUT5obkBteMNTtLkfy8qh4h5/XLNew"
RUST_SSK_PUBLIC = "vsEoa0HHxc8hmlWgoohTQBGWcCRh1BFoTzI8HNIxg5Q"
RUST_USK_PUBLIC = "IGfFj6KhzqBWxiMm6/e+Pu/x/5NV6a7iEe8AKhuRiq0"
RUST_QUERY = {
    "master_keys": {
        RUST_USER: {
            "keys": {f"ed25519:{RUST_MASTER_PUBLIC}": RUST_MASTER_PUBLIC},
            "signatures": {
                RUST_USER: {
                    "ed25519:QLEYYETKXR": "2UCY7IS+5NFdzGGPgyovI2+uHM13pbrsAJIUp0daUCzJdl6hvp5rK"
                    "/6L5AgyxiVAhbK/XT4lDDJeSymeJAs7Cg"
                }
            },
            "usage": ["master"],
            "user_id": RUST_USER,
        }
    },
    "self_signing_keys": {
        RUST_USER: {
            "keys": {f"ed25519:{RUST_SSK_PUBLIC}": RUST_SSK_PUBLIC},
            "signatures": {
                RUST_USER: {
                    f"ed25519:{RUST_MASTER_PUBLIC}": "YFvSUX40E81EO8jibgn+kklMFkqfGTDPcENsq6UEepMY"
                    "9UUOp9iredNCA/NR2INlfq4gkQhMJk2QRGZ31pQZCg"
                }
            },
            "usage": ["self_signing"],
            "user_id": RUST_USER,
        }
    },
    "user_signing_keys": {
        RUST_USER: {
            "keys": {f"ed25519:{RUST_USK_PUBLIC}": RUST_USK_PUBLIC},
            "signatures": {
                RUST_USER: {
                    f"ed25519:{RUST_MASTER_PUBLIC}": "+b9IdTCC7WezR/XJX+K/wI7DukcTOfBukyy9iyZJP3SF"
                    "ZCNWVRmMG1Kuc8iQg8txSNY5NP0M3PI/Srv9nHZjDQ"
                }
            },
            "usage": ["user_signing"],
            "user_id": RUST_USER,
        }
    },
}


def test_secrets_from_real_secret_storage_match_the_published_keys() -> None:
    key = decode_recovery_key(RUST_SSSS_KEY)
    secrets = {name: decrypt_secret(name, data, key) for name, data in RUST_STORED.items()}
    # That client stored padded base64 of the seeds; it must still be read.
    assert secrets[CROSS_SIGNING_MASTER].endswith("=")
    keys = CrossSigningKeys.from_secrets(
        secrets[CROSS_SIGNING_MASTER],
        secrets[CROSS_SIGNING_SELF_SIGNING],
        secrets[CROSS_SIGNING_USER_SIGNING],
    )
    assert keys_match_published(RUST_QUERY, RUST_USER, keys) == {
        "master": True,
        "self_signing": True,
        "user_signing": True,
    }
    assert self_signing_key_of(RUST_QUERY, RUST_USER) == RUST_SSK_PUBLIC
    assert user_signing_key_of(RUST_QUERY, RUST_USER) == RUST_USK_PUBLIC


# --- our own keys, checked with the same functions and vodozemac -----------------------------


def test_device_signing_upload_body() -> None:
    user = "@me:example.org"
    keys = CrossSigningKeys.generate()
    account = vodozemac.Account()
    body = build_device_signing_upload(user, keys, device_id="DEV", device_signer=account.sign)
    assert set(body) == {"master_key", "self_signing_key", "user_signing_key"}
    master = body["master_key"]
    assert master["usage"] == ["master"] and master["user_id"] == user
    assert master["keys"] == {f"ed25519:{keys.master_public}": keys.master_public}
    assert verify_signature(master, user, "ed25519:DEV", account.ed25519_key.to_base64())
    query = {
        "master_keys": {user: master},
        "self_signing_keys": {user: body["self_signing_key"]},
        "user_signing_keys": {user: body["user_signing_key"]},
    }
    assert self_signing_key_of(query, user) == keys.self_signing_public
    assert user_signing_key_of(query, user) == keys.user_signing_public
    # Without a device signer the master key is unsigned (the spec makes it optional).
    plain = build_device_signing_upload(user, keys)
    assert "signatures" not in plain["master_key"]
    with pytest.raises(ValueError):
        build_device_signing_upload(user, keys, device_signer=account.sign)


def test_vodozemac_verifies_cross_signing_signatures() -> None:
    from webclient.matrix.crypto.canonicaljson import canonical_json

    user = "@me:example.org"
    keys = CrossSigningKeys.generate()
    ssk = build_device_signing_upload(user, keys)["self_signing_key"]
    signature = ssk["signatures"][user][f"ed25519:{keys.master_public}"]
    unsigned = {k: v for k, v in ssk.items() if k != "signatures"}
    vodozemac.Ed25519PublicKey.from_base64(keys.master_public).verify_signature(
        canonical_json(unsigned), vodozemac.Ed25519Signature.from_base64(signature)
    )


def test_secret_format_round_trip() -> None:
    keys = CrossSigningKeys.generate()
    secrets = keys.secrets()
    assert set(secrets) == {
        CROSS_SIGNING_MASTER,
        CROSS_SIGNING_SELF_SIGNING,
        CROSS_SIGNING_USER_SIGNING,
    }
    assert all(len(value) == 43 and not value.endswith("=") for value in secrets.values())
    again = CrossSigningKeys.from_secrets(
        secrets[CROSS_SIGNING_MASTER],
        secrets[CROSS_SIGNING_SELF_SIGNING],
        secrets[CROSS_SIGNING_USER_SIGNING],
    )
    assert again.master_public == keys.master_public
    assert public_key_b64(private_key_from_secret(secrets[CROSS_SIGNING_USER_SIGNING])) == (
        keys.user_signing_public
    )
    assert secret_to_seed(seed_to_secret(bytes(32))) == bytes(32)
    with pytest.raises(MalformedData):
        secret_to_seed("c2hvcnQ")
