"""Base64/base58, canonical JSON and JSON signing (webclient.matrix.crypto.encoding,
.canonicaljson, .signing), against the spec's appendix vectors and vodozemac."""

from __future__ import annotations

import json

import pytest
import vodozemac
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from webclient.matrix.crypto.canonicaljson import canonical_json
from webclient.matrix.crypto.encoding import (
    decode_base58,
    decode_base64,
    decode_base64_urlsafe,
    encode_base58,
    encode_base64,
    encode_base64_urlsafe,
)
from webclient.matrix.crypto.errors import BadSignature, CanonicalJsonError, MalformedData
from webclient.matrix.crypto.signing import (
    check_signature,
    private_key_from_seed,
    public_key_b64,
    seed_of,
    sign_json,
    verify_signature,
)

# --- unpadded base64 (spec appendix "Unpadded Base64") ---------------------------------------

SPEC_BASE64 = [
    (b"", ""),
    (b"f", "Zg"),
    (b"fo", "Zm8"),
    (b"foo", "Zm9v"),
    (b"foob", "Zm9vYg"),
    (b"fooba", "Zm9vYmE"),
    (b"foobar", "Zm9vYmFy"),
]


@pytest.mark.parametrize(("raw", "encoded"), SPEC_BASE64)
def test_unpadded_base64_spec_examples(raw: bytes, encoded: str) -> None:
    assert encode_base64(raw) == encoded
    assert decode_base64(encoded) == raw


def test_base64_decoding_accepts_padding() -> None:
    assert decode_base64("Zg==") == b"f"
    assert decode_base64("Zm8=") == b"fo"


@pytest.mark.parametrize("bad", ["Zm9v!", "Zm 9v", "Z", "Zm9vY", "Zm=9v", "Zm9v-_"])
def test_base64_decoding_rejects_garbage(bad: str) -> None:
    with pytest.raises(MalformedData):
        decode_base64(bad)


def test_urlsafe_base64_uses_minus_and_underscore() -> None:
    raw = bytes([0xFB, 0xFF, 0xBF])
    assert encode_base64(raw) == "+/+/"
    assert encode_base64_urlsafe(raw) == "-_-_"
    assert decode_base64_urlsafe("-_-_") == raw
    with pytest.raises(MalformedData):
        decode_base64_urlsafe("+/+/")


def test_base58_bitcoin_vectors() -> None:
    # Bitcoin's base58 test vectors (bitcoin/src/test/data/base58_encode_decode.json).
    vectors = [
        ("", ""),
        ("61", "2g"),
        ("626262", "a3gV"),
        ("636363", "aPEr"),
        ("73696d706c792061206c6f6e6720737472696e67", "2cFupjhnEsSn59qHXstmK2ffpLv2"),
        (
            "00eb15231dfceb60925886b67d065299925915aeb172c06647",
            "1NS17iag9jJgTHD1VXjvLCEnZuQ3rJDE9L",
        ),
        ("516b6fcd0f", "ABnLTmg"),
        ("bf4f89001e670274dd", "3SEo3LWLoPntC"),
        ("572e4794", "3EFU7m"),
        ("ecac89cad93923c02321", "EJDM8drfXA6uyA"),
        ("10c8511e", "Rt5zm"),
        ("00000000000000000000", "1111111111"),
    ]
    for hex_data, text in vectors:
        assert encode_base58(bytes.fromhex(hex_data)) == text
        assert decode_base58(text) == bytes.fromhex(hex_data)
    with pytest.raises(MalformedData):
        decode_base58("0OIl")


# --- canonical JSON (spec appendix "Canonical JSON", examples) -------------------------------

CANONICAL_EXAMPLES = [
    ("{}", "{}"),
    ('{"one": 1, "two": "Two"}', '{"one":1,"two":"Two"}'),
    ('{"b": "2", "a": "1"}', '{"a":"1","b":"2"}'),
    ('{"b":"2","a":"1"}', '{"a":"1","b":"2"}'),
    (
        """{"auth": {"success": true, "mxid": "@john.doe:example.com", "profile": {
        "display_name": "John Doe", "three_pids": [
        {"medium": "email", "address": "john.doe@example.org"},
        {"medium": "msisdn", "address": "123456789"}]}}}""",
        '{"auth":{"mxid":"@john.doe:example.com","profile":{"display_name":"John Doe",'
        '"three_pids":[{"address":"john.doe@example.org","medium":"email"},'
        '{"address":"123456789","medium":"msisdn"}]},"success":true}}',
    ),
    ('{"a": "日本語"}', '{"a":"日本語"}'),
    ('{"本": 2, "日": 1}', '{"日":1,"本":2}'),
    ('{"a": "\\u65E5"}', '{"a":"日"}'),
    ('{"a": null}', '{"a":null}'),
    ('{"a": -0, "b": 1e10}', '{"a":0,"b":10000000000}'),
]


@pytest.mark.parametrize(("given", "expected"), CANONICAL_EXAMPLES)
def test_canonical_json_spec_examples(given: str, expected: str) -> None:
    assert canonical_json(json.loads(given)) == expected.encode("utf-8")


def test_canonical_json_escapes_only_what_the_grammar_says() -> None:
    # Grammar: control characters escaped (named where possible, else lowercase \u00XX);
    # everything else, including DEL and non-ASCII, as raw UTF-8.
    value = {"s": '\b\t\n\f\r"\\\x01\x1f\x7f é'}
    assert canonical_json(value) == '{"s":"\\b\\t\\n\\f\\r\\"\\\\\\u0001\\u001f\x7f é"}'.encode()


@pytest.mark.parametrize("bad", [1.5, float("nan"), float("inf"), 2**53, -(2**53), {1: "x"}])
def test_canonical_json_refuses_what_it_cannot_encode_canonically(bad: object) -> None:
    with pytest.raises(CanonicalJsonError):
        canonical_json({"v": bad} if not isinstance(bad, dict) else bad)


def test_canonical_json_accepts_the_integer_limits() -> None:
    assert canonical_json([2**53 - 1, -(2**53) + 1]) == b"[9007199254740991,-9007199254740991]"


def test_canonical_json_refuses_lone_surrogates() -> None:
    with pytest.raises(CanonicalJsonError):
        canonical_json({"a": "\ud800"})


# --- signing JSON (spec appendix "Cryptographic Test Vectors") -------------------------------

SPEC_SEED = decode_base64("YJDBA9Xnr2sVqXD9Vj7XVUnmFZcZrlw8Md7kMW+3XA1")


def test_sign_json_spec_vector_empty_object() -> None:
    signed = sign_json({}, "domain", "ed25519:1", private_key_from_seed(SPEC_SEED))
    assert signed == {
        "signatures": {
            "domain": {
                "ed25519:1": "K8280/U9SSy9IVtjBuVeLr+HpOB4BQFWbg+UZaADMtTdGYI7Geitb76LTrr5QV/"
                "7Xg4ahLwYGYZzuHGZKM5ZAQ"
            }
        }
    }


def test_sign_json_spec_vector_with_data() -> None:
    signed = sign_json(
        {"one": 1, "two": "Two"}, "domain", "ed25519:1", private_key_from_seed(SPEC_SEED)
    )
    assert signed == {
        "one": 1,
        "signatures": {
            "domain": {
                "ed25519:1": "KqmLSbO39/Bzb0QIYE82zqLwsA+PDzYIpIRA2sRQ4sL53+sN6/"
                "fpNSoqE7BP7vBZhG6kYdD13EIMJpvhJI+6Bw"
            }
        },
        "two": "Two",
    }


def test_signature_ignores_unsigned_and_keeps_other_signatures() -> None:
    key = private_key_from_seed(SPEC_SEED)
    original = {
        "one": 1,
        "two": "Two",
        "unsigned": {"age_ts": 922834800000},
        "signatures": {"@other:x": {"ed25519:DEV": "c2lnbmF0dXJl"}},
    }
    signed = sign_json(original, "domain", "ed25519:1", key)
    assert "domain" not in original["signatures"], "the input must not be modified"
    assert signed["unsigned"] == {"age_ts": 922834800000}
    assert signed["signatures"]["@other:x"] == {"ed25519:DEV": "c2lnbmF0dXJl"}
    # Same signature as the spec vector for {"one": 1, "two": "Two"}: unsigned is not covered.
    assert signed["signatures"]["domain"]["ed25519:1"].startswith("KqmLSbO39/Bzb0QIYE82")
    public = public_key_b64(key)
    assert verify_signature(signed, "domain", "ed25519:1", public)
    signed["unsigned"] = {"something": "else"}
    assert verify_signature(signed, "domain", "ed25519:1", public)


def test_verify_signature_detects_tampering_and_missing_signatures() -> None:
    key = Ed25519PrivateKey.generate()
    public = public_key_b64(key)
    signed = sign_json({"a": 1}, "@u:x", "ed25519:K", key)
    assert verify_signature(signed, "@u:x", "ed25519:K", public)
    assert not verify_signature({**signed, "a": 2}, "@u:x", "ed25519:K", public)
    assert not verify_signature(signed, "@v:x", "ed25519:K", public)
    assert not verify_signature(signed, "@u:x", "ed25519:L", public)
    other = public_key_b64(Ed25519PrivateKey.generate())
    assert not verify_signature(signed, "@u:x", "ed25519:K", other)
    broken = json.loads(json.dumps(signed))
    broken["signatures"]["@u:x"]["ed25519:K"] = "not base64!"
    assert not verify_signature(broken, "@u:x", "ed25519:K", public)
    with pytest.raises(BadSignature, match="does not match"):
        check_signature({**signed, "a": 2}, "@u:x", "ed25519:K", public)
    with pytest.raises(BadSignature, match="no signature"):
        check_signature({"a": 1}, "@u:x", "ed25519:K", public)


def test_sign_json_requires_a_full_key_id() -> None:
    with pytest.raises(ValueError, match="ed25519:"):
        sign_json({}, "@u:x", "DEVICE", Ed25519PrivateKey.generate())


def test_seed_round_trip() -> None:
    assert seed_of(private_key_from_seed(SPEC_SEED)) == SPEC_SEED
    with pytest.raises(MalformedData):
        private_key_from_seed(b"short")


# --- compatibility with vodozemac (what nio signs device keys with) --------------------------


def test_vodozemac_verifies_our_signatures() -> None:
    key = Ed25519PrivateKey.generate()
    obj = {"user_id": "@u:x", "device_id": "D", "keys": {"x": "日本"}, "n": 3}
    signed = sign_json(obj, "@u:x", "ed25519:D", key)
    public = vodozemac.Ed25519PublicKey.from_base64(public_key_b64(key))
    signature = vodozemac.Ed25519Signature.from_base64(signed["signatures"]["@u:x"]["ed25519:D"])
    public.verify_signature(canonical_json(obj), signature)  # raises if invalid
    with pytest.raises(vodozemac.SignatureException):
        public.verify_signature(canonical_json({**obj, "n": 4}), signature)


def test_we_verify_a_vodozemac_account_signing_through_the_signer_hook() -> None:
    account = vodozemac.Account()
    device_keys = {
        "user_id": "@u:x",
        "device_id": "DEV",
        "algorithms": ["m.olm.v1.curve25519-aes-sha2", "m.megolm.v1.aes-sha2"],
        "keys": {
            "curve25519:DEV": account.curve25519_key.to_base64(),
            "ed25519:DEV": account.ed25519_key.to_base64(),
        },
    }
    signed = sign_json(device_keys, "@u:x", "ed25519:DEV", account.sign)
    assert verify_signature(signed, "@u:x", "ed25519:DEV", account.ed25519_key.to_base64())
    # And a signature made by vodozemac directly over the canonical JSON.
    raw_signature = account.sign(canonical_json(device_keys)).to_base64()
    manual = {**device_keys, "signatures": {"@u:x": {"ed25519:DEV": raw_signature}}}
    assert verify_signature(manual, "@u:x", "ed25519:DEV", account.ed25519_key.to_base64())
