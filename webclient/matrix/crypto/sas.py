"""Short Authentication String (SAS) verification, method `m.sas.v1`: the pieces that are pure
functions over JSON and vodozemac's SAS objects (the state machine is `matrix/verification.py`).

What Element (matrix-rust-sdk) offers and what is spoken here: key agreement
`curve25519-hkdf-sha256`, hash `sha256`, MACs `hkdf-hmac-sha256.v2` (preferred) and the old
`hkdf-hmac-sha256` (whose MAC is encoded with libolm's broken base64: vodozemac keeps it as
`calculate_mac_invalid_base64`), SAS `decimal` and `emoji`. The HKDF info strings start with
`MATRIX_KEY_VERIFICATION_SAS|` and `MATRIX_KEY_VERIFICATION_MAC` (the spec's text lists only
the parts after them).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import vodozemac

from .canonicaljson import canonical_json
from .encoding import encode_base64

SAS_V1 = "m.sas.v1"
KEY_AGREEMENT = "curve25519-hkdf-sha256"
HASH = "sha256"
MAC_V2 = "hkdf-hmac-sha256.v2"
MAC_OLD = "hkdf-hmac-sha256"
#: In order of preference.
MAC_METHODS = (MAC_V2, MAC_OLD)
DECIMAL = "decimal"
EMOJI_METHOD = "emoji"
SAS_METHODS = (DECIMAL, EMOJI_METHOD)

#: The spec's emoji table: (symbol, English name) by number.
EMOJI: tuple[tuple[str, str], ...] = (
    ("\U0001f436", "Dog"),
    ("\U0001f431", "Cat"),
    ("\U0001f981", "Lion"),
    ("\U0001f40e", "Horse"),
    ("\U0001f984", "Unicorn"),
    ("\U0001f437", "Pig"),
    ("\U0001f418", "Elephant"),
    ("\U0001f430", "Rabbit"),
    ("\U0001f43c", "Panda"),
    ("\U0001f413", "Rooster"),
    ("\U0001f427", "Penguin"),
    ("\U0001f422", "Turtle"),
    ("\U0001f41f", "Fish"),
    ("\U0001f419", "Octopus"),
    ("\U0001f98b", "Butterfly"),
    ("\U0001f337", "Flower"),
    ("\U0001f333", "Tree"),
    ("\U0001f335", "Cactus"),
    ("\U0001f344", "Mushroom"),
    ("\U0001f30f", "Globe"),
    ("\U0001f319", "Moon"),
    ("\u2601\ufe0f", "Cloud"),
    ("\U0001f525", "Fire"),
    ("\U0001f34c", "Banana"),
    ("\U0001f34e", "Apple"),
    ("\U0001f353", "Strawberry"),
    ("\U0001f33d", "Corn"),
    ("\U0001f355", "Pizza"),
    ("\U0001f382", "Cake"),
    ("\u2764\ufe0f", "Heart"),
    ("\U0001f600", "Smiley"),
    ("\U0001f916", "Robot"),
    ("\U0001f3a9", "Hat"),
    ("\U0001f453", "Glasses"),
    ("\U0001f527", "Spanner"),
    ("\U0001f385", "Santa"),
    ("\U0001f44d", "Thumbs Up"),
    ("\u2602\ufe0f", "Umbrella"),
    ("\u231b", "Hourglass"),
    ("\u23f0", "Clock"),
    ("\U0001f381", "Gift"),
    ("\U0001f4a1", "Light Bulb"),
    ("\U0001f4d5", "Book"),
    ("\u270f\ufe0f", "Pencil"),
    ("\U0001f4ce", "Paperclip"),
    ("\u2702\ufe0f", "Scissors"),
    ("\U0001f512", "Lock"),
    ("\U0001f511", "Key"),
    ("\U0001f528", "Hammer"),
    ("\u260e\ufe0f", "Telephone"),
    ("\U0001f3c1", "Flag"),
    ("\U0001f682", "Train"),
    ("\U0001f6b2", "Bicycle"),
    ("\u2708\ufe0f", "Aeroplane"),
    ("\U0001f680", "Rocket"),
    ("\U0001f3c6", "Trophy"),
    ("\u26bd", "Ball"),
    ("\U0001f3b8", "Guitar"),
    ("\U0001f3ba", "Trumpet"),
    ("\U0001f514", "Bell"),
    ("\u2693", "Anchor"),
    ("\U0001f3a7", "Headphones"),
    ("\U0001f4c1", "Folder"),
    ("\U0001f4cc", "Pin"),
)


def start_content(transaction_id: str, from_device: str) -> dict[str, Any]:
    """Our `m.key.verification.start` (to-device): everything Element accepts, no more (the
    other side's commitment is over the canonical JSON of exactly these fields)."""
    return {
        "from_device": from_device,
        "method": SAS_V1,
        "key_agreement_protocols": [KEY_AGREEMENT],
        "hashes": [HASH],
        "message_authentication_codes": list(MAC_METHODS),
        "short_authentication_string": list(SAS_METHODS),
        "transaction_id": transaction_id,
    }


@dataclass(frozen=True)
class Agreement:
    """What an `m.key.verification.accept` chooses out of a start's offers."""

    mac_method: str
    sas_methods: tuple[str, ...]

    def accept_content(self, transaction_id: str, commitment: str) -> dict[str, Any]:
        return {
            "transaction_id": transaction_id,
            "method": SAS_V1,
            "key_agreement_protocol": KEY_AGREEMENT,
            "hash": HASH,
            "message_authentication_code": self.mac_method,
            "short_authentication_string": list(self.sas_methods),
            "commitment": commitment,
        }


def _strings(value: Any) -> list[str]:
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []


def choose(start: Mapping[str, Any]) -> Agreement | None:
    """Our choice for another device's start, or None when we share no key agreement, hash,
    MAC or SAS method with it (cancel with `m.unknown_method`)."""
    if start.get("method") != SAS_V1:
        return None
    if KEY_AGREEMENT not in _strings(start.get("key_agreement_protocols")):
        return None
    if HASH not in _strings(start.get("hashes")):
        return None
    offered = _strings(start.get("message_authentication_codes"))
    mac = next((m for m in MAC_METHODS if m in offered), None)
    sas = tuple(m for m in SAS_METHODS if m in _strings(start.get("short_authentication_string")))
    if mac is None or not sas:
        return None
    return Agreement(mac, sas)


def check_accept(accept: Mapping[str, Any]) -> Agreement | None:
    """The choices of the other device's accept of our start, or None when it chose
    something we did not offer."""
    if accept.get("key_agreement_protocol") != KEY_AGREEMENT or accept.get("hash") != HASH:
        return None
    mac = accept.get("message_authentication_code")
    sas = tuple(m for m in SAS_METHODS if m in _strings(accept.get("short_authentication_string")))
    if mac not in MAC_METHODS or not sas or not isinstance(accept.get("commitment"), str):
        return None
    return Agreement(str(mac), sas)


def commitment(public_key: str, start: Mapping[str, Any]) -> str:
    """The accepting device's commitment: SHA-256 of its ephemeral public key (unpadded
    base64) followed by the canonical JSON of the start content."""
    digest = hashlib.sha256(public_key.encode("ascii") + canonical_json(dict(start))).digest()
    return encode_base64(digest)


def same(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


def sas_info(
    starter: tuple[str, str, str], accepter: tuple[str, str, str], transaction_id: str
) -> str:
    """HKDF info for the SAS bytes (`curve25519-hkdf-sha256`): (user, device, ephemeral
    public key) of the device that sent the start, then of the one that accepted."""
    first = "|".join(starter)
    second = "|".join(accepter)
    return f"MATRIX_KEY_VERIFICATION_SAS|{first}|{second}|{transaction_id}"


def mac_info(sender: tuple[str, str], receiver: tuple[str, str], transaction_id: str) -> str:
    """HKDF info prefix for MACs sent by `sender` (user, device) to `receiver`; the key ID (or
    `KEY_IDS`) is appended per MAC."""
    return "MATRIX_KEY_VERIFICATION_MAC" + "".join((*sender, *receiver, transaction_id))


def calculate_mac(sas: vodozemac.EstablishedSas, method: str, text: str, info: str) -> str:
    if method == MAC_V2:
        return sas.calculate_mac(text, info)
    return sas.calculate_mac_invalid_base64(text, info)


def mac_matches(sas: vodozemac.EstablishedSas, method: str, text: str, info: str, mac: Any) -> bool:
    return isinstance(mac, str) and same(calculate_mac(sas, method, text, info), mac)


def mac_content(
    sas: vodozemac.EstablishedSas,
    method: str,
    info: str,
    keys: Mapping[str, str],
    transaction_id: str,
) -> dict[str, Any]:
    """`m.key.verification.mac`: a MAC of each `{key ID: public key}` and of the sorted,
    comma-separated key IDs."""
    macs = {key_id: calculate_mac(sas, method, key, info + key_id) for key_id, key in keys.items()}
    key_ids = ",".join(sorted(macs))
    return {
        "transaction_id": transaction_id,
        "mac": macs,
        "keys": calculate_mac(sas, method, key_ids, info + "KEY_IDS"),
    }


def short_strings(
    sas: vodozemac.EstablishedSas, info: str
) -> tuple[list[tuple[str, str]], tuple[int, int, int]]:
    """The 7 emoji (symbol, English name) and the 3 numbers both devices show."""
    found = sas.bytes(info)
    emoji = [EMOJI[index] for index in found.emoji_indices]
    first, second, third = found.decimals
    return emoji, (int(first), int(second), int(third))


__all__ = [
    "DECIMAL",
    "EMOJI",
    "EMOJI_METHOD",
    "HASH",
    "KEY_AGREEMENT",
    "MAC_METHODS",
    "MAC_OLD",
    "MAC_V2",
    "SAS_METHODS",
    "SAS_V1",
    "Agreement",
    "calculate_mac",
    "check_accept",
    "choose",
    "commitment",
    "mac_content",
    "mac_info",
    "mac_matches",
    "same",
    "sas_info",
    "short_strings",
    "start_content",
]
