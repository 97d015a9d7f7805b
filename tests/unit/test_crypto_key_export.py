"""Room key export files (webclient.matrix.crypto.key_export): Element's own test vectors,
exports made by matrix-rust-sdk whose keys vodozemac then uses to decrypt a real message,
and an independent reading of the spec's steps for the files we write."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import struct

import pytest
import vodozemac
from Crypto.Cipher import AES  # pycryptodome (a nio dependency): independent of our AES code

from webclient.matrix.crypto.errors import NotAnExportFile, UnsupportedAlgorithm, WrongPassphrase
from webclient.matrix.crypto.key_export import (
    HEADER,
    TRAILER,
    decrypt_export,
    encrypt_export,
    export_keys,
    import_keys,
)

# element-web (formerly matrix-react-sdk) test/utils/MegolmExportEncryption-test.ts,
# TEST_VECTORS: [plaintext, passphrase, file].
ELEMENT_VECTORS = [
    (
        "plain",
        "password",
        "-----BEGIN MEGOLM SESSION DATA-----\n"
        "AXNhbHRzYWx0c2FsdHNhbHSIiIiIiIiIiIiIiIiIiIiIAAAACmIRUW2OjZ3L2l6j9h0lHlV3M2dx\n"
        "cissyYBxjsfsAndErh065A8=\n"
        "-----END MEGOLM SESSION DATA-----",
    ),
    (
        "Hello, World",
        "betterpassword",
        "-----BEGIN MEGOLM SESSION DATA-----\n"
        "AW1vcmVzYWx0bW9yZXNhbHT//////////wAAAAAAAAAAAAAD6KyBpe1Niv5M5NPm4ZATsJo5nghk\n"
        "KYu63a0YQ5DRhUWEKk7CcMkrKnAUiZny\n"
        "-----END MEGOLM SESSION DATA-----",
    ),
    (
        "alphanumericallyalphanumericallyalphanumericallyalphanumerically",
        "SWORDFISH",
        "-----BEGIN MEGOLM SESSION DATA-----\n"
        "AXllc3NhbHR5Z29vZG5lc3P//////////wAAAAAAAAAAAAAD6OIW+Je7gwvjd4kYrb+49gKCfExw\n"
        "MgJBMD4mrhLkmgAngwR1pHjbWXaoGybtiAYr0moQ93GrBQsCzPbvl82rZhaXO3iH5uHo/RCEpOqp\n"
        "Pgg29363BGR+/Ripq/VCLKGNbw==\n"
        "-----END MEGOLM SESSION DATA-----",
    ),
    (
        "alphanumericallyalphanumericallyalphanumericallyalphanumerically",
        "passwordpasswordpasswordpasswordpasswordpasswordpasswordpasswordpassword" * 3
        + "passwordpasswordpasswordpasswordpassword",
        "-----BEGIN MEGOLM SESSION DATA-----\n"
        "Af//////////////////////////////////////////AAAD6IAZJy7IQ7Y0idqSw/bmpngEEVVh\n"
        "gsH+8ptgqxw6ZVWQnohr8JsuwH9SwGtiebZuBu5smPCO+RFVWH2cQYslZijXv/BEH/txvhUrrtCd\n"
        "bWnSXS9oymiqwUIGs08sXI33ZA==\n"
        "-----END MEGOLM SESSION DATA-----",
    ),
]


# The last vector's IV is all 0xff: the browser's 64-bit counter wraps to zero after the first
# block while OpenSSL's 128-bit counter would carry, so it only decrypts with `_aes.Ctr64`.
@pytest.mark.parametrize(("plaintext", "passphrase", "file"), ELEMENT_VECTORS)
def test_element_vectors(plaintext: str, passphrase: str, file: str) -> None:
    assert decrypt_export(file, passphrase) == plaintext.encode()


def test_element_vector_with_the_wrong_passphrase() -> None:
    with pytest.raises(WrongPassphrase):
        decrypt_export(ELEMENT_VECTORS[0][2], "passwort")


def test_element_error_cases() -> None:
    # The same file shapes as element-web's 'should handle missing header/trailer/too-short'.
    with pytest.raises(NotAnExportFile, match="BEGIN MEGOLM SESSION DATA"):
        decrypt_export("-----", "")
    with pytest.raises(NotAnExportFile, match="END MEGOLM SESSION DATA"):
        decrypt_export("-----BEGIN MEGOLM SESSION DATA-----\n-----", "")
    too_short = (
        "-----BEGIN MEGOLM SESSION DATA-----\n"
        "AXNhbHRzYWx0c2FsdHNhbHSIiIiIiIiIiIiIiIiIiIiIAAAACmIRUW2OjZ3L2l6j9h0lHlV3M2dx\n"
        "cissyYBxjsfsAn\n"
        "-----END MEGOLM SESSION DATA-----\n"
    )
    with pytest.raises(NotAnExportFile, match="too short"):
        decrypt_export(too_short, "")
    with pytest.raises(NotAnExportFile):
        decrypt_export(b"\xff\xfe binary", "")


# matrix-rust-sdk crates/matrix-sdk-ui/src/timeline/tests/encryption.rs
# (test_retry_message_decryption): an export (passphrase "1234"), and a message encrypted with
# the session in it, whose body is "It's a secret to everybody".
RUST_EXPORT = (
    "-----BEGIN MEGOLM SESSION DATA-----\n"
    "ASKcWoiAVUM97482UAi83Avce62hSLce7i5JhsqoF6xeAAAACqt2Cg3nyJPRWTTMXxXH7TXnkfdlmBXbQtq5"
    "bpHo3LRijcq2Gc6TXilESCmJN14pIsfKRJrWjZ0squ/XsoTFytuVLWwkNaW3QF6obeg2IoVtJXLMPdw3b2vO"
    "vgwGY3OMP0XafH13j1vcb6YLzvgLkZQLnYvd47hv3yK/9GmKS9tokuaQ7dCVYckYcIOS09EDTs70YdxUd5WG"
    "rQynATCLFP1p/NAGv70r9MK7Cy/mNpjD0r4qC7UEDIoi1kOWzHgnLo19wtvwsb8Fg8ATxcs3Wmtj8hIUYpDx"
    "ia4sM10zbytUuaPUAfCDf42IyxdmOnGe1CueXhgI71y+RW0s0argNqUt7jB70JT0o9CyX6UBGRaqLk2MPY9T"
    "hUu5J8X3UgIa6rcbWigzohzWm9rdbEHFrSWqjpfQYMaAKQQgETrjSy4XTrp2RhC2oNqG/hylI4ab+F4X6fpH"
    "DYP1NqNMP5g36xNu7LhDnrUB5qsPjYOmWORxGLfudpF3oLYCSlr3DgHqEIB6HjQblLZ3KQuPBse3zxyROTnS"
    "AhdPH4a/z1wioFtKNVph3hecsiKEdqnz4Y2coSIdhz58mJ9JWNQoFAENE5CSsoEZAGvafYZVpW4C75YY2zq1"
    "wIeiFi1dT43/jLAUGkslsi1VvnyfUu8qO404RxYO3XHoGLMFoFLOO+lZ+VGci2Vz10AhxJhEBHxRKxw4k2uB"
    "HztoSJUr/2Y\n"
    "-----END MEGOLM SESSION DATA-----"
)
RUST_CIPHERTEXT = (
    "AwgAEtABPRMavuZMDJrPo6pGQP4qVmpcuapuXtzKXJyi3YpEsjSWdzuRKIgJzD4P"
    "cSqJM1A8kzxecTQNJsC5q22+KSFEPxPnI4ltpm7GFowSoPSW9+bFdnlfUzEP1jPq"
    "YevHAsMJp2fRKkzQQbPordrUk1gNqEpGl4BYFeRqKl9GPdKFwy45huvQCLNNueql"
    "CFZVoYMuhxrfyMiJJAVNTofkr2um2mKjDTlajHtr39pTG8k0eOjSXkLOSdZvNOMz"
    "hGhSaFNeERSA2G2YbeknOvU7MvjiO0AKuxaAe1CaVhAI14FCgzrJ8g0y5nly+n7x"
    "QzL2G2Dn8EoXM5Iqj8W99iokQoVsSrUEnaQ1WnSIfewvDDt4LCaD/w7PGETMCQ"
)

# matrix-rust-sdk crates/matrix-sdk-crypto/src/file_encryption/key_export.rs (TEST_EXPORT,
# passphrase "1234"), lines of 71 characters and unpadded.
RUST_TEST_EXPORT = (
    "-----BEGIN MEGOLM SESSION DATA-----\n"
    "Af7mGhlzQ+eGvHu93u0YXd3D/+vYMs3E7gQqOhuCtkvGAAAAASH7pEdWvFyAP1JUisAcpEo\n"
    "Xke2Q7Kr9hVl/SCc6jXBNeJCZcrUbUV4D/tRQIl3E9L4fOk928YI1J+3z96qiH0uE7hpsCI\n"
    "CkHKwjPU+0XTzFdIk1X8H7sZ+MD/2Sg/q3y8rtUjz7uEj4GUTnb+9SCOTVmJsRfqgUpM1CU\n"
    "bDLytHf1JkohY4tWEgpsCc67xdzgodjr12qYrfg/zNm3LGpxlrffJknw4rk5QFTj4kMbqbD\n"
    "ZZgDTni+HxRTDGge2J620lMOiznvXX+H09Rwruqx5aJvvaaKd86jWRpiO2oSFqHn4u5ONl9\n"
    "41uzm62Sj0eIm6ZbA9NQs87jQw4LxsejhZVL+NdjIg80zVSBTWhTdo0DTnbFSNP4ReOiz0U\n"
    "XosOF8A5T8Vdx2nvA0GXltfcHKVKQYh/LJAkNQ7P9UYL4ae/5TtQZkhB1KxCLTRWqADCl53\n"
    "uBMGpG53EMgY6G6K2DEIOkcv7sdXQF5WpemiSWZqJRWj+cjfs9BpCTbkp/rszWFl2TniWpR\n"
    "RqIbT2jORlN4rTvdtF0F4z1pqP4qWyR3sLNTkXm9CFRzWADNG0RDZKxbCoo6RPvtaCTfaHo\n"
    "SwfvzBS6CjfAG+FOugpV48o7+XetaUUPZ6/tZSPhCdeV8eP9q5r0QwWeXFogzoNzWt4HYx9\n"
    "MdXxzD+f0mtg5gzehrrEEARwI2bCvPpHxlt/Na9oW/GBpkjwR1LSKgg4CtpRyWngPjdEKpZ\n"
    "GYW19pdjg0qdXNk/eqZsQTsNWVo6A\n"
    "-----END MEGOLM SESSION DATA-----"
)


def test_rust_sdk_export_opens_and_its_key_decrypts_a_real_message() -> None:
    sessions = import_keys(RUST_EXPORT, "1234")
    assert len(sessions) == 1
    session = sessions[0]
    assert session["session_id"] == "gM8i47Xhu0q52xLfgUXzanCMpLinoyVyH7R58cBuVBU"
    assert session["room_id"] == "!DovneieKSTkdHKpIXy:morpheus.localhost"
    assert session["sender_key"] == "DeHIg4gwhClxzFYcmNntPNF9YtsdZbmMy8+3kzCMXHA"
    inbound = vodozemac.InboundGroupSession.import_session(
        vodozemac.ExportedSessionKey(session["session_key"])
    )
    assert inbound.session_id == session["session_id"]
    decrypted = inbound.decrypt(vodozemac.MegolmMessage.from_base64(RUST_CIPHERTEXT))
    event = json.loads(decrypted.plaintext)
    assert event["content"]["body"] == "It's a secret to everybody"
    assert event["room_id"] == session["room_id"]


def test_rust_sdk_test_export() -> None:
    sessions = import_keys(RUST_TEST_EXPORT, "1234")
    assert sessions
    for session in sessions:
        assert session["algorithm"] == "m.megolm.v1.aes-sha2"
        vodozemac.InboundGroupSession.import_session(
            vodozemac.ExportedSessionKey(session["session_key"])
        )
    with pytest.raises(WrongPassphrase):
        import_keys(RUST_TEST_EXPORT, "12345")


def make_session(room: str = "!room:example.org") -> dict:
    outbound = vodozemac.GroupSession()
    return {
        "algorithm": "m.megolm.v1.aes-sha2",
        "room_id": room,
        "sender_key": "WimPd2udAU/1S/+YBpPbmr9L+0H5H+BnAVHSwDxlPGc",
        "session_id": outbound.session_id,
        "session_key": vodozemac.InboundGroupSession(outbound.session_key).export_at(0).to_base64(),
        "sender_claimed_keys": {"ed25519": "Bhbpt6hqMZlSH4sJV7xiEEEiPVeTWz4Vkujl1EMdIPI"},
        "forwarding_curve25519_key_chain": [],
    }


def spec_decrypt(file: str, passphrase: str) -> bytes:
    """The spec's steps (section "Key exports"), with pycryptodome and hashlib."""
    lines = file.strip().splitlines()
    assert lines[0] == HEADER and lines[-1] == TRAILER
    body = base64.b64decode("".join(lines[1:-1]))
    assert body[0] == 1
    salt, iv, (rounds,) = body[1:17], body[17:33], struct.unpack(">I", body[33:37])
    key = hashlib.pbkdf2_hmac("sha512", passphrase.encode(), salt, rounds, 64)
    assert hmac.new(key[32:], body[:-32], hashlib.sha256).digest() == body[-32:]
    assert iv[8] & 0x80 == 0, "bit 63 of the IV must be zero"
    cipher = AES.new(key[:32], AES.MODE_CTR, nonce=b"", initial_value=iv)
    return cipher.decrypt(body[37:-32])


def test_export_round_trip_and_format() -> None:
    sessions = [make_session(), make_session("!other:example.org")]
    file = export_keys(sessions, "ünïcode passphrase", rounds=1000)
    lines = file.splitlines()
    assert lines[0] == HEADER and lines[-1] == TRAILER and file.endswith("\n")
    assert all(len(line) == 96 for line in lines[1:-2]) and len(lines[-2]) <= 96
    assert json.loads(spec_decrypt(file, "ünïcode passphrase")) == sessions
    assert import_keys(file, "ünïcode passphrase") == sessions
    with pytest.raises(WrongPassphrase):
        import_keys(file, "unicode passphrase")


def test_files_that_went_through_editors_and_mail_still_open() -> None:
    file = export_keys([make_session()], "pw", rounds=10)
    crlf = "Keys from my old laptop:\r\n" + file.replace("\n", "\r\n") + "\r\nBye\r\n"
    assert import_keys(crlf, "pw")
    indented = "\n".join("    " + line for line in file.splitlines())
    assert import_keys(indented.encode(), "pw")


def test_tampered_and_truncated_files() -> None:
    file = export_keys([make_session()], "pw", rounds=10)
    lines = file.splitlines()
    body = bytearray(base64.b64decode("".join(lines[1:-1])))
    body[40] ^= 1
    tampered = "\n".join([HEADER, base64.b64encode(bytes(body)).decode(), TRAILER])
    with pytest.raises(WrongPassphrase):
        import_keys(tampered, "pw")
    with pytest.raises(NotAnExportFile):
        import_keys("\n".join([HEADER, lines[1][:20] + "!", TRAILER]), "pw")
    with pytest.raises(NotAnExportFile):
        import_keys("\n".join(lines[:-1]), "pw")


def test_unknown_version_and_absurd_round_counts() -> None:
    body = bytes([2]) + bytes(36) + bytes(32)
    with pytest.raises(UnsupportedAlgorithm, match="version 2"):
        decrypt_export("\n".join([HEADER, base64.b64encode(body).decode(), TRAILER]), "pw")
    body = bytes([1]) + bytes(32) + struct.pack(">I", 2**32 - 1) + bytes(32)
    with pytest.raises(UnsupportedAlgorithm, match="rounds"):
        decrypt_export("\n".join([HEADER, base64.b64encode(body).decode(), TRAILER]), "pw")


def test_decrypted_content_must_be_a_list_of_sessions() -> None:
    with pytest.raises(NotAnExportFile, match="list of room keys"):
        import_keys(encrypt_export(b'{"not": "a list"}', "pw", rounds=10), "pw")
    with pytest.raises(NotAnExportFile, match="list of room keys"):
        import_keys(encrypt_export(b"\xff\xfe", "pw", rounds=10), "pw")
    assert import_keys(encrypt_export(b'[1, {"a": 2}]', "pw", rounds=10), "pw") == [{"a": 2}]
