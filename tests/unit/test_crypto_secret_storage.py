"""Secret storage, m.secret_storage.v1.aes-hmac-sha2 (webclient.matrix.crypto.secret_storage),
against secrets stored by real clients (matrix-rust-sdk and mautrix-python test data) and an
independent reading of the spec's steps."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json

import pytest
from Crypto.Cipher import AES  # pycryptodome (a nio dependency): independent of our AES code
from Crypto.Hash import SHA256
from Crypto.Protocol.KDF import HKDF

from webclient.matrix.crypto.errors import MalformedData, UnsupportedAlgorithm, WrongRecoveryKey
from webclient.matrix.crypto.recovery import decode_recovery_key
from webclient.matrix.crypto.secret_storage import (
    AES_HMAC_SHA2,
    CROSS_SIGNING_MASTER,
    check_key,
    decrypt_secret,
    decrypt_stored_secret,
    encrypt_secret,
    encrypt_stored_secret,
    key_from_user_input,
    new_key_description,
    new_passphrase_info,
)


def b64(text: str) -> bytes:
    return base64.b64decode(text + "=" * (-len(text) % 4))


# matrix-rust-sdk crates/matrix-sdk/tests/integration/encryption/secret_storage.rs
# (test_secret_store_get_secret / test_import_secrets): key, description and stored secret.
RUST_KEY = decode_recovery_key("EsTj 3yST y93F SLpB jJsz eAXc 2XzA ygD3 w69H fGaN TKBj jXEd")
RUST_DESCRIPTION = {
    "algorithm": "m.secret_storage.v1.aes-hmac-sha2",
    "iv": "xv5b6/p3ExEw++wTyfSHEg==",
    "mac": "ujBBbXahnTAMkmPUX2/0+VTfUh63pGyVRuBcDMgmJC8=",
}
RUST_MASTER = {
    "ciphertext": "lCRSSA1lChONEXj/8RyogsgAa8ouQwYDnLr4XBCheRikrZykLRzPCx3doCE=",
    "iv": "bdfCwu+ECYgZ/jWTkGrQ/A==",
    "mac": "NXeV1dZaOe2JLvQ6Hh6tFto7AgFFdaQnY0l9pruwdtE=",
}

# mautrix-python mautrix/crypto/ssss/key_test.py: a secret-storage key (KEY1) and the master
# key Element stored with it.
MAUTRIX_KEY1 = "EsTE s92N EtaX s2h6 VQYF 9Kao tHYL mkyL GKMh isZb KJ4E tvoC"
MAUTRIX_MASTER = {
    "iv": "BpKP9nQJTE9jrsAssoxPqQ==",
    "ciphertext": "fNRiiiidezjerTgV+G6pUtmeF3izzj5re/mVvY0hO2kM6kYGrxLuIu2ej80=",
    "mac": "/gWGDGMyOLmbJp+aoSLh5JxCs0AdS6nAhjzpe+9G2Q0=",
}
MAUTRIX_MASTER_SEED = bytes.fromhex(
    "68f97fd1922eecf6b82bb890d24d0652984e7a1d703b9e867b7ebaf7feb95b6f"
)
MAUTRIX_KEY2 = "EsUC xSxt XJgQ dz19 8WBZ rHdE GZo7 ybsn EFmG Y5HY MDAG GNWe"
MAUTRIX_KEY2_META = {
    "algorithm": "m.secret_storage.v1.aes-hmac-sha2",
    "iv": "O0BOvTqiIAYjC+RMcyHfWw==",
    "mac": "7k6OruQlWg0UmQjxGZ0ad4Q6DdwkgnoI7G6X3IjBYtI=",
}


def test_check_key_against_real_descriptions() -> None:
    assert check_key(RUST_KEY, RUST_DESCRIPTION)
    assert check_key(decode_recovery_key(MAUTRIX_KEY2), MAUTRIX_KEY2_META)
    assert not check_key(decode_recovery_key(MAUTRIX_KEY2), RUST_DESCRIPTION)
    assert not check_key(RUST_KEY, MAUTRIX_KEY2_META)


def test_decrypt_secrets_stored_by_real_clients() -> None:
    assert decrypt_secret(CROSS_SIGNING_MASTER, RUST_MASTER, RUST_KEY) == (
        "VcY1+LNyV6aSMne8mvi4lc/q+JiCHe+m6+hKLtgLP30="
    )
    mautrix_key = decode_recovery_key(MAUTRIX_KEY1)
    secret = decrypt_secret(CROSS_SIGNING_MASTER, MAUTRIX_MASTER, mautrix_key)
    assert b64(secret) == MAUTRIX_MASTER_SEED


def test_wrong_key_is_reported_as_such() -> None:
    with pytest.raises(WrongRecoveryKey, match="wrong key"):
        decrypt_secret(CROSS_SIGNING_MASTER, MAUTRIX_MASTER, decode_recovery_key(MAUTRIX_KEY2))


def test_the_secret_name_is_part_of_the_key() -> None:
    # The same key cannot open a secret stored under another name (HKDF info = name).
    with pytest.raises(WrongRecoveryKey):
        decrypt_secret("m.cross_signing.self_signing", RUST_MASTER, RUST_KEY)


@pytest.mark.parametrize("field", ["ciphertext", "mac"])
def test_tampering_is_detected(field: str) -> None:
    raw = bytearray(b64(RUST_MASTER[field]))
    raw[3] ^= 1
    tampered = {**RUST_MASTER, field: base64.b64encode(bytes(raw)).decode()}
    with pytest.raises(WrongRecoveryKey):
        decrypt_secret(CROSS_SIGNING_MASTER, tampered, RUST_KEY)


def test_malformed_stored_secrets() -> None:
    with pytest.raises(MalformedData):
        decrypt_secret(CROSS_SIGNING_MASTER, {"iv": RUST_MASTER["iv"]}, RUST_KEY)
    with pytest.raises(MalformedData, match="16 bytes"):
        decrypt_secret(CROSS_SIGNING_MASTER, {**RUST_MASTER, "iv": "bdfCwu+gZ/jWTkGrQ/A"}, RUST_KEY)
    with pytest.raises(MalformedData, match="32 bytes"):
        truncated_mac = "NXeV1dZaOe2JLvQ6Hh6tFtgFFdaQnY0l9pruwdtE"  # from matrix-rust-sdk
        decrypt_secret(CROSS_SIGNING_MASTER, {**RUST_MASTER, "mac": truncated_mac}, RUST_KEY)


def spec_decrypt(name: str, encrypted: dict, key: bytes) -> str:
    """The spec's steps, written with pycryptodome, to check our output independently."""
    okm = HKDF(key, 64, bytes(32), SHA256, context=name.encode())
    aes_key, mac_key = okm[:32], okm[32:]
    ciphertext = b64(encrypted["ciphertext"])
    assert hmac.new(mac_key, ciphertext, hashlib.sha256).digest() == b64(encrypted["mac"])
    cipher = AES.new(aes_key, AES.MODE_CTR, nonce=b"", initial_value=b64(encrypted["iv"]))
    return cipher.decrypt(ciphertext).decode()


def test_encrypt_follows_the_spec() -> None:
    key = bytes(range(32))
    secret = "a secret ✓ with some length " * 5
    encrypted = encrypt_secret("m.megolm_backup.v1", secret, key)
    assert set(encrypted) == {"iv", "ciphertext", "mac"}
    assert not any(value.endswith("=") for value in encrypted.values()), "unpadded base64"
    assert spec_decrypt("m.megolm_backup.v1", encrypted, key) == secret
    assert decrypt_secret("m.megolm_backup.v1", encrypted, key) == secret


def test_iv_has_bit_63_cleared_and_is_fresh() -> None:
    ivs = [b64(encrypt_secret("n", "s", bytes(32))["iv"]) for _ in range(64)]
    assert all(len(iv) == 16 and iv[8] & 0x80 == 0 for iv in ivs)
    assert len(set(ivs)) == len(ivs)


def test_new_key_description_is_recognised_by_the_spec_check() -> None:
    key = bytes(range(1, 33))
    key_id, description = new_key_description(key, name="Recovery key")
    assert len(key_id) == 32 and key_id.isalnum()
    assert description["algorithm"] == AES_HMAC_SHA2
    assert description["name"] == "Recovery key"
    # Independent check: encryption of 32 zero bytes under the name "" (spec, "Key storage").
    okm = HKDF(key, 64, bytes(32), SHA256, context=b"")
    zeros = AES.new(okm[:32], AES.MODE_CTR, nonce=b"", initial_value=b64(description["iv"]))
    expected_mac = hmac.new(okm[32:], zeros.encrypt(bytes(32)), hashlib.sha256).digest()
    assert b64(description["mac"]) == expected_mac
    assert check_key(key, description)
    assert not check_key(bytes(32), description)


def test_key_description_with_passphrase_opens_with_the_passphrase() -> None:
    from webclient.matrix.crypto.recovery import passphrase_to_key

    info = new_passphrase_info(iterations=1000)
    assert info["algorithm"] == "m.pbkdf2" and len(info["salt"]) == 32
    key = passphrase_to_key("hunter2 hunter2", info)
    _, description = new_key_description(key, passphrase=info)
    assert json.loads(json.dumps(description)) == description
    assert key_from_user_input("hunter2 hunter2", description) == key


def test_check_key_edge_cases() -> None:
    assert check_key(bytes(32), {"algorithm": AES_HMAC_SHA2}), "no iv/mac: assume valid"
    with pytest.raises(UnsupportedAlgorithm):
        check_key(RUST_KEY, {**RUST_DESCRIPTION, "algorithm": "m.secret_storage.custom"})
    # mautrix-python KEY2_META_BROKEN_IV / KEY2_META_BROKEN_MAC.
    with pytest.raises(MalformedData):
        check_key(RUST_KEY, {**MAUTRIX_KEY2_META, "iv": "O0BOvTqiIAYjC+RMcyHfWwMeowMeowMeow"})
    broken_mac = "7k6OruQlWg0UmQjxGZ0ad4Q6DdwkgnoI7G6X3IjBYtIMeowMeowMeow"
    with pytest.raises(MalformedData):
        check_key(RUST_KEY, {**MAUTRIX_KEY2_META, "mac": broken_mac})


def test_stored_secret_account_data_round_trip() -> None:
    key_a, key_b = bytes(range(32)), bytes(range(32, 64))
    content = encrypt_stored_secret("m.megolm_backup.v1", "c2VjcmV0", {"A": key_a, "B": key_b})
    assert set(content["encrypted"]) == {"A", "B"}
    assert decrypt_stored_secret("m.megolm_backup.v1", content, "A", key_a) == "c2VjcmV0"
    assert decrypt_stored_secret("m.megolm_backup.v1", content, "B", key_b) == "c2VjcmV0"
    with pytest.raises(WrongRecoveryKey):
        decrypt_stored_secret("m.megolm_backup.v1", content, "A", key_b)
    with pytest.raises(MalformedData, match="not stored under the key C"):
        decrypt_stored_secret("m.megolm_backup.v1", content, "C", key_a)
