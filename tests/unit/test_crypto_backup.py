"""Server-side key backup, m.megolm_backup.v1.curve25519-aes-sha2
(webclient.matrix.crypto.backup): real backups from matrix-rust-sdk and matrix-js-sdk test
data, and both directions against vodozemac's PkEncryption/PkDecryption (libolm's format)."""

from __future__ import annotations

import base64

import pytest
import vodozemac
from cryptography.hazmat.primitives import hashes, hmac
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from webclient.matrix.crypto.backup import (
    backup_key_from_secret,
    backup_key_to_secret,
    backup_public_key,
    build_key_backup_data,
    decrypt_session_data,
    encrypt_session_data,
    key_matches_backup,
    new_auth_data,
    new_backup_key,
    session_from_export,
)
from webclient.matrix.crypto.errors import MalformedData, WrongBackupKey
from webclient.matrix.crypto.recovery import decode_recovery_key
from webclient.matrix.crypto.signing import verify_signature


def b64(text: str) -> bytes:
    return base64.b64decode(text + "=" * (-len(text) % 4))


def unpadded(raw: bytes) -> str:
    return base64.b64encode(raw).decode().rstrip("=")


# --- matrix-js-sdk spec/test-utils/crypto-test-data/index.ts ---------------------------------

JS_BACKUP_KEY = "dwdtCnMYpX08FsFyUbJmRd9ML4frwJkqsXf7pR25LCo="
JS_BACKUP_KEY_ALT = "dh4fP2LITyJusgnb0dEq/SQK253WGObvLxXF5FEX6qc"
JS_BACKUP_KEY_BASE58 = "EsTc LW2K PGiF wKEA 3As5 g5c4 BXwk qeeJ ZJV8 Q9fu gUMN UE4d"
JS_AUTH_DATA = {
    "public_key": "hSDwCYkwp1R0i33ctD73Wg2/Og0mOBr066SpjqqbTmo",
    "signatures": {
        "@alice:localhost": {
            "ed25519:test_device": "KDSNeumirTsd8piI0oVfv/wzg4J4HlEc7rs5XhODFcJ/YAcUdg65ajsZG+rLI0T"
            "QOSSGjorJqcrSiSB1HRSCAA"
        }
    },
}
JS_DEVICE_ED25519 = "YI/7vbGVLpGdYtuceQR8MSsKB/QjgfMXM1xqnn+0NWU"
JS_SESSION = {
    "algorithm": "m.megolm.v1.aes-sha2",
    "room_id": "!room:id",
    "sender_key": "WimPd2udAU/1S/+YBpPbmr9L+0H5H+BnAVHSwDxlPGc",
    "session_id": "ipdI6Zs/7DzFTEhiA2iGaMDfHkIYCleqXT6L+5e1/co",
    "session_key": "AQAAAABXGO+Z9jlQJhIL6ByhXrv2BwCIxkhh7MXpKLsYmXkJcWrQlirmXmD79ga1zo+I4DCtEZzyGSp"
    "DWXBC6G7ez3H4gDMBam1RE3Jm5tc+oTlIri32UkYgSL0kBkcEnttqmIXBlK8tAfJo3cJnlh7F4ltEOAqrdME6dU0zX"
    "TkqXmURqYqXSOmbP+w8xUxIYgNohmjA3x5CGApXql0+i/uXtf3K",
    "sender_claimed_keys": {"ed25519": "Bhbpt6hqMZlSH4sJV7xiEEEiPVeTWz4Vkujl1EMdIPI"},
    "forwarding_curve25519_key_chain": [],
}
JS_SESSION_DATA = {
    "ciphertext": "r6HRk2/Im2yJe5cLP8R81aVjFWjYWPHpw7TVxphiSK1cdIDZTTK57r6MfU+0i/mTPn+/PosT74OvYw"
    "Cnehy2dyqqks+Ev+uBKw3TAo0HCv7W3Rmq9XtqxikG9ts7XtcjFEkx37+qRaXtikcu0+CmUf+I5X6KStwNXb+CPnN2"
    "CGgwpn8g5+xEgSjE904QFrte4s9ygfqymgszgF7kzNICYF5g2GTlss8pdu/GLnh52AKvtT6FcqE5LC74N07BDWUycMH"
    "MMMw43F7z5GhzEnoWOXlbz+M4eTGrCYuhvcmQGNbdgzYqEXPm1z4xFhVgs84kFCtNeUc+AHZWfC2zynZ++4tpmfCYYpY"
    "EfYwQNo9Ks7o+Mh2PtAo9/GIU4xAK/uG0vizEiNYt/1QAxwgrmDxjdRe5TH4pPUtLMktRDyZKeUHJmYZA7pcLtpVatXh"
    "XmVEQLFLDc/uusxaBxFXYkx7BQnNRoa1BE1yXRxud94s6vMsI/auhn95TG58Z0Rz9psRT4HzgDKeHf/uVbdfKR9O3gqx"
    "lB4mzZAyTCqHhUQERmGiISC2FeuKkAwVk/ZxXiFqSTUCizwXcczGbzEbC+pBJTi6jX5Pa2yI9cT5C8xaGGUzEaKdNWu"
    "kcs73uvXoFl/5y0Y29PkfE8UlPWpN4kZn7hrcOllcqqV9ZMH+rBbGViIw0yZ6yQUciEJzO8Gk3yz36lIT30VhCgKXMu+"
    "kELEPTRSVXqEQkCXBcfNOhgl3LIso",
    "ephemeral": "q+P1WdRtEiPIEtNuuGrRcueZxUbLnSKdsuTAkxewXgU",
    "mac": "OibmACbORhI",
}


def test_js_sdk_backup_key_and_public_key() -> None:
    key = backup_key_from_secret(JS_BACKUP_KEY)  # padded base64, as that client stored it
    assert key == decode_recovery_key(JS_BACKUP_KEY_BASE58)
    # Also RFC 7748 section 6.1: Alice's X25519 private key and public key.
    assert key.hex() == "77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a"
    assert b64(backup_public_key(key)).hex() == (
        "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a"
    )
    assert key_matches_backup(key, JS_AUTH_DATA)
    assert not key_matches_backup(backup_key_from_secret(JS_BACKUP_KEY_ALT), JS_AUTH_DATA)
    assert verify_signature(
        JS_AUTH_DATA, "@alice:localhost", "ed25519:test_device", JS_DEVICE_ED25519
    )


def test_decrypt_a_js_sdk_backup() -> None:
    session = decrypt_session_data(JS_SESSION_DATA, backup_key_from_secret(JS_BACKUP_KEY))
    # That client backed up the whole exported session (MEGOLM_SESSION_DATA), extras included.
    assert session == {**JS_SESSION, "m.shared_history": True}


def test_decrypt_with_another_backups_key_fails_clearly() -> None:
    with pytest.raises(WrongBackupKey, match="another backup"):
        decrypt_session_data(JS_SESSION_DATA, backup_key_from_secret(JS_BACKUP_KEY_ALT))


# --- matrix-rust-sdk crates/matrix-sdk-crypto/src/backups/keys/decryption.rs (test_decrypt_key)


RUST_BACKUP_KEY = "Ha9cklU/9NqFo9WKdVfGzmqUL/9wlkdxfEitbSIPVXw"
RUST_SESSION_DATA = {
    "ephemeral": "HlLi76oV6wxHz3PCqE/bxJi6yF1HnYz5Dq3T+d/KpRw",
    "ciphertext": "MuM8E3Yc6TSAvhVGb77rQ++jE6p9dRepx63/3YPD2wACKAppkZHeFrnTH6wJ/HSyrmzo7HfwqVl6t"
    "KNpfooSTHqUf6x1LHz+h4B/Id5ITO1WYt16AaI40LOnZqTkJZCfSPuE2oxalwEHnCS3biWybutcnrBFPR3LMtaeHvvkb"
    "+k3ny9l5ZpsU9G7vCm3XoeYkWfLekWXvDhbqWrylXD0+CNUuaQJ/S527TzLd4XKctqVjjO/cCH7q+9utt9WJAfK8LGaW"
    "T/mZ3AeWjf5kiqOpKKf5Cn4n5SSil5p/pvGYmjnURvZSEeQIzHgvunIBEPtzK/MYEPOXe/P5achNGlCx+5N19Ftyp9TFa"
    "TFlTWCTi0mpD7ePfCNISrwpozAz9HZc0OhA8+1aSc7rhYFIeAYXFU326NuFIFHI5pvpSxjzPQlOA+mavIKmiRAtjlLw1"
    "1IVKTxgrdT4N8lXeMr4ndCSmvIkAzFMo1uZA4fzjiAdQJE4/2WeXFNNpvdfoYmX8Zl9CAYjpSO5HvpwkAbk4/iLEH3hD"
    "fCVUwDfMh05PdGLnxeRpiEFWSMSsJNp+OWAA+5JsF41BoRGrxoXXT+VKqlUDONd+O296Psu8Q+d8/S618",
    "mac": "GtMrurhDTwo",
}


def test_decrypt_a_rust_sdk_backup() -> None:
    key = backup_key_from_secret(RUST_BACKUP_KEY)
    session = decrypt_session_data(RUST_SESSION_DATA, key)
    assert session["algorithm"] == "m.megolm.v1.aes-sha2"
    assert set(session) >= {"sender_key", "session_key", "sender_claimed_keys"}
    # The session key in it is a real megolm export that vodozemac imports.
    imported = vodozemac.InboundGroupSession.import_session(
        vodozemac.ExportedSessionKey(session["session_key"])
    )
    assert imported.session_id


def test_the_same_rust_backup_through_vodozemac() -> None:
    # vodozemac's Message.from_base64 takes (ciphertext, mac, ephemeral).
    decryption = vodozemac.PkDecryption.from_key(
        vodozemac.Curve25519SecretKey.from_bytes(backup_key_from_secret(RUST_BACKUP_KEY))
    )
    message = vodozemac.Message.from_base64(
        RUST_SESSION_DATA["ciphertext"], RUST_SESSION_DATA["mac"], RUST_SESSION_DATA["ephemeral"]
    )
    import json

    assert json.loads(decryption.decrypt(message)) == decrypt_session_data(
        RUST_SESSION_DATA, backup_key_from_secret(RUST_BACKUP_KEY)
    )


# --- both directions with vodozemac (the libolm-compatible PkEncryption) ---------------------


def test_we_decrypt_what_vodozemac_encrypts() -> None:
    key = new_backup_key()
    public = backup_public_key(key)
    encryption = vodozemac.PkEncryption.from_key(vodozemac.Curve25519PublicKey.from_base64(public))
    session = session_from_export(JS_SESSION)
    import json

    message = encryption.encrypt(json.dumps(session).encode())
    # Message.to_base64() gives (ephemeral, mac, ciphertext), whatever its docstring says.
    ephemeral, mac, ciphertext = message.to_base64()
    assert b64(ephemeral) == message.ephemeral_key
    assert b64(ciphertext) == message.ciphertext
    data = {"ephemeral": ephemeral, "mac": mac, "ciphertext": ciphertext}
    assert decrypt_session_data(data, key) == session


def test_vodozemac_decrypts_what_we_encrypt() -> None:
    key = new_backup_key()
    session = session_from_export(JS_SESSION)
    data = encrypt_session_data(session, backup_public_key(key))
    assert set(data) == {"ephemeral", "ciphertext", "mac"}
    assert len(b64(data["mac"])) == 8
    decryption = vodozemac.PkDecryption.from_key(vodozemac.Curve25519SecretKey.from_bytes(key))
    assert decryption.public_key.to_base64() == backup_public_key(key)
    import json

    message = vodozemac.Message.from_base64(data["ciphertext"], data["mac"], data["ephemeral"])
    assert json.loads(decryption.decrypt(message)) == session


def _mac_key(private_key: bytes, ephemeral: str) -> bytes:
    shared = X25519PrivateKey.from_private_bytes(private_key).exchange(
        X25519PublicKey.from_public_bytes(b64(ephemeral))
    )
    return HKDF(hashes.SHA256(), 80, bytes(32), b"").derive(shared)[32:64]


def _hmac8(key: bytes, data: bytes) -> bytes:
    mac = hmac.HMAC(key, hashes.SHA256())
    mac.update(data)
    return mac.finalize()[:8]


def test_the_mac_is_over_the_empty_string_as_libolm_and_vodozemac_do() -> None:
    # Experiment: vodozemac writes HMAC(mac key, "") and rejects a MAC over the ciphertext,
    # so a backup written with the spec's original wording would be unreadable for Element.
    key = new_backup_key()
    public = vodozemac.Curve25519PublicKey.from_base64(backup_public_key(key))
    message = vodozemac.PkEncryption.from_key(public).encrypt(b'{"a":1}')
    ephemeral, mac, ciphertext = message.to_base64()
    mac_key = _mac_key(key, ephemeral)
    assert b64(mac) == _hmac8(mac_key, b"")
    assert b64(mac) != _hmac8(mac_key, b64(ciphertext))
    decryption = vodozemac.PkDecryption.from_key(vodozemac.Curve25519SecretKey.from_bytes(key))
    over_ciphertext = unpadded(_hmac8(mac_key, b64(ciphertext)))
    with pytest.raises(vodozemac.PkDecodeException):
        decryption.decrypt(vodozemac.Message.from_base64(ciphertext, over_ciphertext, ephemeral))
    # What we write is the empty-string MAC too.
    ours = encrypt_session_data({"a": 1}, backup_public_key(key))
    assert b64(ours["mac"]) == _hmac8(_mac_key(key, ours["ephemeral"]), b"")
    # We read both; anything else is refused.
    lenient = {"ephemeral": ephemeral, "ciphertext": ciphertext, "mac": over_ciphertext}
    assert decrypt_session_data(lenient, key) == {"a": 1}
    with pytest.raises(WrongBackupKey):
        decrypt_session_data({**lenient, "mac": unpadded(bytes(8))}, key)


def test_malformed_session_data() -> None:
    key = backup_key_from_secret(RUST_BACKUP_KEY)
    with pytest.raises(MalformedData):
        decrypt_session_data({"ephemeral": RUST_SESSION_DATA["ephemeral"]}, key)
    with pytest.raises(MalformedData):
        decrypt_session_data({**RUST_SESSION_DATA, "ephemeral": "c2hvcnQ"}, key)
    with pytest.raises(MalformedData, match="impossible length"):
        decrypt_session_data(
            {**RUST_SESSION_DATA, "ciphertext": RUST_SESSION_DATA["ciphertext"][:-4]}, key
        )
    with pytest.raises(MalformedData):
        backup_key_from_secret("c2hvcnQ")


def test_build_key_backup_data_and_secret_round_trip() -> None:
    key = new_backup_key()
    auth_data = new_auth_data(key)
    assert key_matches_backup(key, auth_data)
    assert key_matches_backup(key, auth_data["public_key"])
    assert not key_matches_backup(new_backup_key(), auth_data)
    assert backup_key_from_secret(backup_key_to_secret(key)) == key
    body = build_key_backup_data(
        JS_SESSION,
        auth_data["public_key"],
        first_message_index=3,
        forwarded_count=1,
        is_verified=False,
    )
    assert body["first_message_index"] == 3
    assert body["forwarded_count"] == 1
    assert body["is_verified"] is False
    restored = decrypt_session_data(body["session_data"], key)
    assert "room_id" not in restored and "session_id" not in restored
    assert restored == session_from_export(JS_SESSION)
    with pytest.raises(MalformedData, match="session_key"):
        session_from_export({k: v for k, v in JS_SESSION.items() if k != "session_key"})
