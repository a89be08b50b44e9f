"""Signed tree heads as C2SP checkpoints in the signed-note text format.

A checkpoint commits to the whole ledger (origin, tree size, root hash). Publishing it as a C2SP
``tlog-checkpoint`` inside a C2SP ``signed-note`` keeps it a few lines of plain UTF-8 that can be
pasted, archived or gossiped, that several parties can co-sign (a witness co-signature is just one
more signature line), and that existing transparency-log tooling understands for Ed25519 keys::

    gongshu.example/ledger
    42
    <base64 root hash>

    — gongshu.example/ledger <base64(key ID || signature)>

The signed message is the note text (the body, including its final newline). Key IDs are the
first four bytes of ``SHA-256(key name || 0x0A || signature type || public key)``. Ed25519 uses
the assigned signature type ``0x01`` (32-byte public key, RFC 8032 signature). SM2 has no assigned
type byte, so, as C2SP recommends for unassigned types, we use ``0xFF`` followed by the namespaced
ASCII identifier ``gongshu/sm2`` (:data:`SM2_SIGNATURE_TYPE`), with the 64-byte ``x || y``
public key; its signatures are 64-byte ``r || s`` over SM3(Z_A || M) with the default user ID,
exactly as :class:`gongshu.kernel.crypto.Sm2Signer` produces them.

Verification follows signed-note: signatures from unknown keys (name or key ID not both matching)
are ignored; a known key's signature that fails to verify rejects the note; and here every key
the caller trusts must have signed, so requiring a witness is just passing its key as well.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from gongshu.kernel.crypto import SignatureAlgorithm, Signer, verify

__all__ = [
    "ED25519_SIGNATURE_TYPE",
    "MAX_SIGNATURES",
    "SM2_SIGNATURE_TYPE",
    "Checkpoint",
    "SignatureLine",
    "cosign_note",
    "key_id",
    "parse_note",
    "sign_checkpoint",
    "verify_note",
]

ED25519_SIGNATURE_TYPE = b"\x01"
SM2_SIGNATURE_TYPE = b"\xff" + b"gongshu/sm2"
MAX_SIGNATURES = 100
"""Notes with more signature lines are refused (C2SP requires accepting at least 16)."""

_SIGNATURE_TYPES: dict[str, bytes] = {
    "ed25519": ED25519_SIGNATURE_TYPE,
    "sm2": SM2_SIGNATURE_TYPE,
}
_DASH = "\u2014 "
_MAX_SIZE = 2**63 - 1
_DECIMAL = re.compile(r"(?:0|[1-9][0-9]*)\Z")
_CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f]")
_SURROGATE = re.compile(r"[\ud800-\udfff]")


def _b64encode(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _b64decode(text: str, what: str) -> bytes:
    """Decode strict, canonical standard base64 (RFC 4648 §4) or raise ValueError."""
    try:
        data = base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError):
        raise ValueError(f"{what} is not valid base64: {text!r}") from None
    if not data or _b64encode(data) != text:
        raise ValueError(f"{what} is not canonical, non-empty base64: {text!r}")
    return data


def _check_line(line: str, what: str) -> None:
    if not line:
        raise ValueError(f"{what} must not be empty")
    if "\n" in line or _CONTROL.search(line):
        raise ValueError(f"{what} must not contain newlines or control characters: {line!r}")
    if _SURROGATE.search(line):
        raise ValueError(f"{what} is not valid Unicode (lone surrogate): {line!r}")


def _check_key_name(name: str) -> None:
    if not isinstance(name, str) or not name:
        raise ValueError("key name must be a non-empty string")
    if any(char.isspace() for char in name) or "+" in name:
        raise ValueError(f"key name must not contain spaces or '+': {name!r}")
    _check_line(name, "key name")


def _public_key(algorithm: str, public_key: bytes) -> bytes:
    if algorithm == "sm2" and len(public_key) == 65 and public_key[0] == 0x04:
        return public_key[1:]  # the key ID always hashes the 64-byte x || y form
    return public_key


def key_id(name: str, algorithm: SignatureAlgorithm, public_key: bytes) -> bytes:
    """Return the 4-byte signed-note key ID of a named public key."""
    _check_key_name(name)
    if algorithm not in _SIGNATURE_TYPES:
        raise ValueError(f"unsupported signature algorithm: {algorithm!r}")
    material = (
        name.encode("utf-8")
        + b"\n"
        + _SIGNATURE_TYPES[algorithm]
        + _public_key(algorithm, public_key)
    )
    return hashlib.sha256(material).digest()[:4]


@dataclass(frozen=True)
class Checkpoint:
    """A tree head: the log's origin, its size in leaves and its root hash."""

    origin: str
    size: int
    root: bytes
    extensions: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        _check_line(self.origin, "checkpoint origin")
        if not isinstance(self.size, int) or isinstance(self.size, bool):
            raise ValueError(f"checkpoint size must be an integer, not {self.size!r}")
        if not 0 <= self.size <= _MAX_SIZE:
            raise ValueError(f"checkpoint size {self.size} is outside [0, 2**63 - 1]")
        if not isinstance(self.root, bytes) or not self.root:
            raise ValueError("checkpoint root hash must be non-empty bytes")
        for number, line in enumerate(self.extensions, start=1):
            _check_line(line, f"checkpoint extension line {number}")

    def body(self) -> str:
        """Return the note text: origin, size, base64 root, extension lines, each ending in \\n."""
        lines = [self.origin, str(self.size), _b64encode(self.root), *self.extensions]
        return "".join(f"{line}\n" for line in lines)


@dataclass(frozen=True)
class SignatureLine:
    """One ``— name base64(key ID || signature)`` line of a signed note."""

    name: str
    key_id: bytes
    signature: bytes

    def line(self) -> str:
        """Return the line as it appears in the note, with its final newline."""
        return f"{_DASH}{self.name} {_b64encode(self.key_id + self.signature)}\n"


def _signature_lines(body: str, signers: Sequence[tuple[str, Signer]]) -> list[str]:
    message = body.encode("utf-8")
    lines: list[str] = []
    for name, signer in signers:
        identifier = key_id(name, signer.algorithm, signer.public_key_bytes())
        lines.append(SignatureLine(name, identifier, signer.sign(message)).line())
    return lines


def sign_checkpoint(checkpoint: Checkpoint, signers: Sequence[tuple[str, Signer]]) -> str:
    """Return the signed note for ``checkpoint``, one signature line per ``(key name, signer)``."""
    if not signers:
        raise ValueError("a signed note needs at least one signer")
    body = checkpoint.body()
    note = body + "\n" + "".join(_signature_lines(body, signers))
    parse_note(note)  # refuses duplicate keys and anything else a verifier would reject
    return note


def cosign_note(text: str, signers: Sequence[tuple[str, Signer]]) -> str:
    """Return ``text`` with signature lines from ``signers`` added (e.g. a witness co-signing).

    This does not check the existing signatures: verify the note with :func:`verify_note` first.
    """
    body, _, _ = _parse(text)
    note = text + "".join(_signature_lines(body, signers))
    parse_note(note)
    return note


def _parse_body(body: str) -> Checkpoint:
    lines = body[:-1].split("\n")
    if len(lines) < 3:
        raise ValueError(
            "checkpoint text must have at least three lines (origin, tree size, root hash), "
            f"found {len(lines)}"
        )
    origin, size_text, root_text, *extensions = lines
    if not origin:
        raise ValueError("checkpoint origin (line 1) is empty")
    if not _DECIMAL.match(size_text):
        raise ValueError(
            f"checkpoint tree size (line 2) must be a decimal number without leading zeros: "
            f"{size_text!r}"
        )
    size = int(size_text) if len(size_text) <= 19 else _MAX_SIZE + 1
    if size > _MAX_SIZE:
        raise ValueError("checkpoint tree size (line 2) is too large (over 2**63 - 1)")
    root = _b64decode(root_text, "checkpoint root hash (line 3)")
    for number, line in enumerate(extensions, start=4):
        if not line:
            raise ValueError(f"checkpoint line {number} (an extension line) is empty")
    return Checkpoint(origin, size, root, tuple(extensions))


def _parse_signature(line: str, number: int) -> SignatureLine:
    if not line.startswith(_DASH):
        raise ValueError(f"signature line {number} does not start with an em dash and a space")
    name, space, encoded = line[len(_DASH) :].partition(" ")
    if not space:
        raise ValueError(f"signature line {number} has no space between key name and signature")
    try:
        _check_key_name(name)
    except ValueError as exc:
        raise ValueError(f"signature line {number}: {exc}") from None
    blob = _b64decode(encoded, f"signature line {number}")
    if len(blob) < 5:
        raise ValueError(f"signature line {number} is shorter than a key ID plus a signature")
    return SignatureLine(name, blob[:4], blob[4:])


def parse_note(text: str) -> tuple[Checkpoint, list[SignatureLine]]:
    """Split a signed checkpoint note into its checkpoint and signature lines (not verified).

    Raises ValueError, naming the problem, for anything that is not a well-formed note.
    """
    _, checkpoint, signatures = _parse(text)
    return checkpoint, signatures


def _parse(text: str) -> tuple[str, Checkpoint, list[SignatureLine]]:
    """Return the note text (the signed message), its checkpoint and its signature lines."""
    if not isinstance(text, str):
        raise ValueError(f"a signed note must be text, not {type(text).__name__}")
    match = _CONTROL.search(text)
    if match:
        raise ValueError(
            f"signed note contains control character {match.group()!r} at offset {match.start()}"
        )
    if _SURROGATE.search(text):
        raise ValueError("signed note is not valid UTF-8 text (it contains a lone surrogate)")
    if not text.endswith("\n"):
        raise ValueError("signed note must end with a newline (trailing data after signatures?)")
    split = text.rfind("\n\n")
    if split < 0:
        raise ValueError("signed note has no blank line between the text and the signatures")
    body, signature_text = text[: split + 1], text[split + 2 :]
    if not signature_text:
        raise ValueError("signed note has no signature lines after the blank line")
    raw_lines = signature_text[:-1].split("\n")
    if len(raw_lines) > MAX_SIGNATURES:
        raise ValueError(f"signed note has more than {MAX_SIGNATURES} signatures")
    signatures = [_parse_signature(line, n) for n, line in enumerate(raw_lines, start=1)]
    seen: set[tuple[str, bytes]] = set()
    for signature in signatures:
        if (signature.name, signature.key_id) in seen:
            raise ValueError(
                f"signed note has two signatures from key {signature.name} "
                f"(key ID {signature.key_id.hex()})"
            )
        seen.add((signature.name, signature.key_id))
    return body, _parse_body(body), signatures


def verify_note(
    text: str,
    verifiers: Mapping[str, tuple[SignatureAlgorithm, bytes]],
    *,
    origin: str | None = None,
) -> Checkpoint:
    """Return the checkpoint of a note signed validly by every key in ``verifiers``.

    ``verifiers`` maps key name to ``(algorithm, public key)``. Signatures from other keys are
    ignored. Raises ValueError if the note is malformed, a trusted key's signature is missing or
    invalid, or (when given) the checkpoint's origin is not ``origin``.
    """
    if not verifiers:
        raise ValueError("verify_note needs at least one trusted key")
    body, checkpoint, signatures = _parse(text)
    message = body.encode("utf-8")
    expected = {
        name: key_id(name, algorithm, public_key)
        for name, (algorithm, public_key) in verifiers.items()
    }
    verified: set[str] = set()
    for signature in signatures:
        if expected.get(signature.name) != signature.key_id:
            continue  # an unknown key (or a different key under a known name): ignore it
        algorithm, public_key = verifiers[signature.name]
        if not verify(algorithm, public_key, message, signature.signature):
            raise ValueError(f"invalid {algorithm} signature from key {signature.name}")
        verified.add(signature.name)
    missing = sorted(set(verifiers) - verified)
    if missing:
        raise ValueError(f"signed note lacks a signature from: {', '.join(missing)}")
    if origin is not None and checkpoint.origin != origin:
        raise ValueError(f"checkpoint origin is {checkpoint.origin!r}, expected {origin!r}")
    return checkpoint
