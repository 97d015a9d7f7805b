"""Recovery keys and passphrases (webclient.matrix.crypto.recovery), against vectors from
matrix-rust-sdk, matrix-js-sdk and mautrix-python tests."""

from __future__ import annotations

import hashlib

import pytest

from webclient.matrix.crypto.errors import (
    InvalidRecoveryKey,
    MalformedData,
    UnsupportedAlgorithm,
    WrongPassphrase,
    WrongRecoveryKey,
)
from webclient.matrix.crypto.recovery import (
    decode_recovery_key,
    encode_recovery_key,
    passphrase_to_key,
)
from webclient.matrix.crypto.secret_storage import (
    AES_HMAC_SHA2,
    key_from_user_input,
    new_key_description,
)

# matrix-rust-sdk crates/matrix-sdk-crypto/src/backups/keys/decryption.rs (TEST_KEY,
# base58_decoding); the same key is BACKUP_DECRYPTION_KEY_BASE58/_BASE64 in matrix-js-sdk
# spec/test-utils/crypto-test-data/index.ts.
RUST_TEST_KEY = bytes.fromhex("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a")
RUST_RECOVERY_KEY = "EsTc LW2K PGiF wKEA 3As5 g5c4 BXwk qeeJ ZJV8 Q9fu gUMN UE4d"

# matrix-rust-sdk crates/matrix-sdk-crypto/src/secret_storage.rs (base58_parsing).
RUST_SSSS_KEY = bytes(
    [159, 189, 70, 187, 52, 81, 113, 198, 246, 2, 44, 154, 37, 213, 104, 27]
    + [165, 78, 236, 106, 108, 73, 83, 243, 173, 192, 185, 110, 157, 145, 173, 163]
)


def test_decode_real_recovery_keys() -> None:
    assert decode_recovery_key(RUST_RECOVERY_KEY) == RUST_TEST_KEY
    assert decode_recovery_key(RUST_RECOVERY_KEY.replace(" ", "")) == RUST_TEST_KEY
    # Whitespace anywhere, including runs of spaces, newlines and tabs, is ignored.
    messy = "EsT           pRvZTnjck8    YrhRAtw XLS84Nr2r9S9LGAWDaExVAPBvLRK   "
    assert decode_recovery_key(messy) == RUST_SSSS_KEY
    assert decode_recovery_key("EsTpRvZT\nnjck8YrhRAtw\tXLS84Nr2r9S9LGAWDaExVAPBvLRK\r\n") == (
        RUST_SSSS_KEY
    )


def test_encode_matches_the_real_format() -> None:
    assert encode_recovery_key(RUST_TEST_KEY) == RUST_RECOVERY_KEY


def test_round_trip_all_kinds_of_keys() -> None:
    for key in (bytes(32), b"\xff" * 32, bytes(range(32)), hashlib.sha256(b"x").digest()):
        text = encode_recovery_key(key)
        assert all(len(group) == 4 for group in text.split(" ")[:-1])
        assert decode_recovery_key(text) == key


def test_js_sdk_parity_example() -> None:
    # matrix-js-sdk spec/unit/crypto-api/recovery-key.spec.ts: flipping the case of one
    # character of the key for bytes 0..31 is caught by the parity byte.
    encoded = encode_recovery_key(bytes(range(32)))
    assert "EsSz" in encoded
    with pytest.raises(InvalidRecoveryKey, match="typo"):
        decode_recovery_key(encoded.replace("EsSz", "EsSZ"))


def test_bad_parity_is_reported_as_a_typo() -> None:
    # matrix-rust-sdk: last character changed (d -> e), and LRK -> LRk.
    with pytest.raises(InvalidRecoveryKey, match="typo"):
        decode_recovery_key("EsTc LW2K PGiF wKEA 3As5 g5c4 BXwk qeeJ ZJV8 Q9fu gUMN UE4e")
    with pytest.raises(InvalidRecoveryKey, match="typo"):
        decode_recovery_key("EsTpRvZTnjck8YrhRAtwXLS84Nr2r9S9LGAWDaExVAPBvLRk")


def test_wrong_prefix_length_and_characters() -> None:
    # matrix-rust-sdk secret_storage.rs base58_parsing: bad prefix, too short, not base58.
    with pytest.raises(InvalidRecoveryKey, match="start with 'Es'"):
        decode_recovery_key("AATpRvZTnjck8YrhRAtwXLS84Nr2r9S9LGAWDaExVAPBvLRk")
    with pytest.raises(InvalidRecoveryKey, match="too short"):
        decode_recovery_key("AATpRvZTnjck8YrhRAtwXLS84Nr2r9S9")
    with pytest.raises(InvalidRecoveryKey, match="'0'.*'I'.*'O'.*'l'.*easy to confuse"):
        decode_recovery_key("AATpRvZTnjck8YrhRAtwXLS84Nr0OIl")
    with pytest.raises(InvalidRecoveryKey, match="too short"):
        decode_recovery_key(RUST_RECOVERY_KEY[:-5])
    with pytest.raises(InvalidRecoveryKey, match="too long"):
        decode_recovery_key(RUST_RECOVERY_KEY + " abcd")
    with pytest.raises(InvalidRecoveryKey, match="empty"):
        decode_recovery_key(" \n ")


def test_passphrase_to_key_is_pbkdf2_sha512_over_the_utf8_salt() -> None:
    info = {"algorithm": "m.pbkdf2", "salt": "saltygoodness", "iterations": 1000}
    expected = hashlib.pbkdf2_hmac("sha512", "pässwörd".encode(), b"saltygoodness", 1000, 32)
    assert passphrase_to_key("pässwörd", info) == expected
    longer = passphrase_to_key("pässwörd", {**info, "bits": 512})
    assert longer == hashlib.pbkdf2_hmac("sha512", "pässwörd".encode(), b"saltygoodness", 1000, 64)


@pytest.mark.parametrize(
    ("info", "error"),
    [
        ({"algorithm": "m.scrypt", "salt": "s", "iterations": 1}, UnsupportedAlgorithm),
        ({"algorithm": "m.pbkdf2", "iterations": 1}, MalformedData),
        ({"algorithm": "m.pbkdf2", "salt": "s"}, MalformedData),
        ({"algorithm": "m.pbkdf2", "salt": "s", "iterations": "10"}, MalformedData),
        ({"algorithm": "m.pbkdf2", "salt": "s", "iterations": 1, "bits": 7}, MalformedData),
        ({"algorithm": "m.pbkdf2", "salt": "s", "iterations": 0}, UnsupportedAlgorithm),
        ({"algorithm": "m.pbkdf2", "salt": "s", "iterations": 2**31}, UnsupportedAlgorithm),
    ],
)
def test_passphrase_parameters_are_checked(info: dict, error: type[Exception]) -> None:
    with pytest.raises(error):
        passphrase_to_key("x", info)


# matrix-rust-sdk crates/matrix-sdk-crypto/src/secret_storage.rs
# (from_account_data_and_passphrase): a key description made by a real client.
RUST_PASSPHRASE_DESCRIPTION = {
    "algorithm": "m.secret_storage.v1.aes-hmac-sha2",
    "iv": "gH2iNpiETFhApvW6/FFEJQ",
    "mac": "9Lw12m5SKDipNghdQXKjgpfdj1/K7HFI2brO+UWAGoM",
    "passphrase": {
        "algorithm": "m.pbkdf2",
        "salt": "IuLnH7S85YtZmkkBJKwNUKxWF42g9O1H",
        "iterations": 10,
    },
}
# matrix-rust-sdk (from_account_data_and_base58): recovery key and its key description,
# with padded base64.
RUST_BASE58_KEY = "EsTj 3yST y93F SLpB jJsz eAXc 2XzA ygD3 w69H fGaN TKBj jXEd"
RUST_BASE58_DESCRIPTION = {
    "algorithm": "m.secret_storage.v1.aes-hmac-sha2",
    "iv": "xv5b6/p3ExEw++wTyfSHEg==",
    "mac": "ujBBbXahnTAMkmPUX2/0+VTfUh63pGyVRuBcDMgmJC8=",
}


def test_user_input_passphrase_from_a_real_client() -> None:
    key = key_from_user_input("It's a secret to everybody", RUST_PASSPHRASE_DESCRIPTION)
    assert key == passphrase_to_key(
        "It's a secret to everybody", RUST_PASSPHRASE_DESCRIPTION["passphrase"]
    )
    with pytest.raises(WrongPassphrase):
        key_from_user_input("It's a secret to nobody", RUST_PASSPHRASE_DESCRIPTION)


def test_user_input_recovery_key_from_a_real_client() -> None:
    key = key_from_user_input(RUST_BASE58_KEY, RUST_BASE58_DESCRIPTION)
    assert key == decode_recovery_key(RUST_BASE58_KEY)
    # A valid recovery key of another key: it decodes, but the check value says no.
    with pytest.raises(WrongRecoveryKey):
        key_from_user_input(RUST_RECOVERY_KEY, RUST_BASE58_DESCRIPTION)


def test_user_input_that_is_neither() -> None:
    with pytest.raises(InvalidRecoveryKey, match="^This is not a recovery key.$"):
        key_from_user_input("correct horse battery staple", RUST_BASE58_DESCRIPTION)
    # Something shaped like a recovery key gets the specific reason.
    with pytest.raises(InvalidRecoveryKey, match="^The recovery key has a typo"):
        key_from_user_input(RUST_BASE58_KEY[:-1] + "e", RUST_BASE58_DESCRIPTION)


def test_mistyped_recovery_key_with_passphrase_is_reported_as_a_typo() -> None:
    # The key has a passphrase too: a recovery key with a typo fails as a passphrase, and the
    # person is told about the typo, not about a wrong passphrase.
    key = decode_recovery_key(RUST_BASE58_KEY)
    _, description = new_key_description(
        key, passphrase={"algorithm": "m.pbkdf2", "salt": "abc", "iterations": 10}
    )
    with pytest.raises(InvalidRecoveryKey, match="typo"):
        key_from_user_input(RUST_BASE58_KEY[:-1] + "e", description)
    assert key_from_user_input(RUST_BASE58_KEY, description) == key


def test_user_input_without_check_value_is_accepted() -> None:
    # Spec: iv and mac are optional; without them the key must be assumed right.
    description = {"algorithm": AES_HMAC_SHA2}
    assert key_from_user_input(RUST_BASE58_KEY, description) == decode_recovery_key(RUST_BASE58_KEY)


# mautrix-python mautrix/crypto/ssss/key_test.py (KEY1_META): a key that has both a
# passphrase and a recovery key, with 500000 PBKDF2 rounds as Element makes them.
MAUTRIX_KEY1_META = {
    "algorithm": "m.secret_storage.v1.aes-hmac-sha2",
    "passphrase": {
        "algorithm": "m.pbkdf2",
        "iterations": 500000,
        "salt": "y863BOoqOadgDp8S3FtHXikDJEalsQ7d",
    },
    "iv": "xxkTK0L4UzxgAFkQ6XPwsw",
    "mac": "MEhooO0ZhFJNxUhvRMSxBnJfL20wkLgle3ocY0ee/eA",
}
MAUTRIX_KEY1_RECOVERY_KEY = "EsTE s92N EtaX s2h6 VQYF 9Kao tHYL mkyL GKMh isZb KJ4E tvoC"


def test_passphrase_and_recovery_key_give_the_same_key() -> None:
    by_key = key_from_user_input(MAUTRIX_KEY1_RECOVERY_KEY, MAUTRIX_KEY1_META)
    by_passphrase = key_from_user_input("correct horse battery staple", MAUTRIX_KEY1_META)
    assert by_key == by_passphrase
