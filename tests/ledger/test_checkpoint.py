"""Tests for gongshu.ledger.checkpoint: signed-note checkpoints with SM2 and Ed25519 signers."""

from __future__ import annotations

import base64
import hashlib
import re

import pytest

from gongshu.kernel.crypto import Ed25519Signer, Hasher, SignatureAlgorithm, Sm2Signer
from gongshu.ledger.checkpoint import (
    MAX_SIGNATURES,
    SM2_SIGNATURE_TYPE,
    Checkpoint,
    SignatureLine,
    cosign_note,
    key_id,
    parse_note,
    sign_checkpoint,
    verify_note,
)
from gongshu.ledger.merkle import MerkleTree

LOG = "gongshu.example/ledger"
WITNESS = "witness.example/w1"
DASH = "\u2014"

# golang.org/x/mod/sumdb/note's documented example key and signed note.
GO_SEED = base64.b64decode("AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz")[1:]
GO_PUBLIC = base64.b64decode("ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW")[1:]
GO_TEXT = (
    "If you think cryptography is the answer to your problem,\n"
    "then you don't know what your problem is.\n"
)
GO_SIGNATURE_LINE = (
    f"{DASH} PeterNeumann "
    "x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"
)


@pytest.fixture(scope="module")
def sm2() -> Sm2Signer:
    return Sm2Signer(0x3945208F7B2144B13F36E38AC6D39F95889393692860B51A42FB81EF4DF7C5B8)


@pytest.fixture(scope="module")
def ed25519() -> Ed25519Signer:
    return Ed25519Signer.from_private_bytes(bytes(range(32)))


@pytest.fixture(scope="module")
def stranger() -> Ed25519Signer:
    return Ed25519Signer.from_private_bytes(bytes(range(1, 33)))


@pytest.fixture(scope="module")
def checkpoint() -> Checkpoint:
    tree = MerkleTree(Hasher("sm3"), [f"entry {i}".encode() for i in range(42)])
    return Checkpoint(LOG, tree.size, tree.root())


@pytest.fixture(scope="module")
def note(checkpoint: Checkpoint, sm2: Sm2Signer) -> str:
    return sign_checkpoint(checkpoint, [(LOG, sm2)])


def trust(
    name: str, signer: Sm2Signer | Ed25519Signer
) -> dict[str, tuple[SignatureAlgorithm, bytes]]:
    return {name: (signer.algorithm, signer.public_key_bytes())}


def replace_line(text: str, number: int, new: str) -> str:
    lines = text.split("\n")
    lines[number] = new
    return "\n".join(lines)


# --- Format and key IDs.


def test_body_is_the_c2sp_checkpoint_text(checkpoint: Checkpoint) -> None:
    root_b64 = base64.b64encode(checkpoint.root).decode()
    assert checkpoint.body() == f"{LOG}\n42\n{root_b64}\n"
    assert (
        Checkpoint("o", 0, b"\x00" * 32).body()
        == "o\n0\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n"
    )
    extended = Checkpoint("o", 1, b"\x01", ("ext one", "ext two"))
    assert extended.body() == "o\n1\nAQ==\next one\next two\n"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("", 1, b"r"), "origin must not be empty"),
        (("a\nb", 1, b"r"), "origin must not contain newlines"),
        (("a\tb", 1, b"r"), "control characters"),
        (("o", -1, b"r"), "outside"),
        (("o", 2**63, b"r"), "outside"),
        (("o", True, b"r"), "integer"),
        (("o", "1", b"r"), "integer"),
        (("o", 1, b""), "root hash"),
        (("o", 1, "cm9vdA=="), "root hash"),
        (("o", 1, b"r", ("",)), "extension line 1 must not be empty"),
        (("o", 1, b"r", ("ok", "x\ny")), "extension line 2"),
        (("o\ud800", 1, b"r"), "lone surrogate"),
    ],
)
def test_checkpoint_refuses_unrepresentable_values(args: tuple[object, ...], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Checkpoint(*args)  # type: ignore[arg-type]


def test_go_reference_note_signature_and_key_id() -> None:
    signer = Ed25519Signer.from_private_bytes(GO_SEED)
    assert signer.public_key_bytes() == GO_PUBLIC
    identifier = key_id("PeterNeumann", "ed25519", GO_PUBLIC)
    assert identifier.hex() == "c74f20a3"
    line = SignatureLine("PeterNeumann", identifier, signer.sign(GO_TEXT.encode()))
    assert line.line() == GO_SIGNATURE_LINE


def test_sm2_key_id_uses_the_private_signature_type(sm2: Sm2Signer) -> None:
    public = sm2.public_key_bytes()
    assert SM2_SIGNATURE_TYPE == b"\xffgongshu/sm2"
    expected = hashlib.sha256(LOG.encode() + b"\n\xffgongshu/sm2" + public).digest()[:4]
    assert key_id(LOG, "sm2", public) == expected
    assert key_id(LOG, "sm2", b"\x04" + public) == expected
    assert key_id(LOG, "ed25519", public[:32]) != key_id(LOG, "sm2", public)
    with pytest.raises(ValueError, match="unsupported"):
        key_id(LOG, "rsa", public)  # type: ignore[arg-type]
    for bad_name in ["", "a b", "a+b", "a\u3000b", "a\nb"]:
        with pytest.raises(ValueError, match="key name"):
            key_id(bad_name, "sm2", public)


# --- Signing and verification.


def test_sm2_round_trip(checkpoint: Checkpoint, sm2: Sm2Signer, note: str) -> None:
    body, signatures = note.split("\n\n")
    assert body + "\n" == checkpoint.body()
    name, blob = signatures.removesuffix("\n").removeprefix(f"{DASH} ").split(" ")
    raw = base64.b64decode(blob)
    assert name == LOG
    assert raw[:4] == key_id(LOG, "sm2", sm2.public_key_bytes())
    assert len(raw) == 4 + 64
    parsed, lines = parse_note(note)
    assert parsed == checkpoint
    assert lines == [SignatureLine(LOG, raw[:4], raw[4:])]
    assert verify_note(note, trust(LOG, sm2)) == checkpoint
    assert verify_note(note, trust(LOG, sm2), origin=LOG) == checkpoint


def test_ed25519_round_trip(checkpoint: Checkpoint, ed25519: Ed25519Signer) -> None:
    note = sign_checkpoint(checkpoint, [(LOG, ed25519)])
    assert note == sign_checkpoint(checkpoint, [(LOG, ed25519)])  # Ed25519 is deterministic
    assert verify_note(note, trust(LOG, ed25519)) == checkpoint
    (line,) = parse_note(note)[1]
    assert line.key_id == key_id(LOG, "ed25519", ed25519.public_key_bytes())
    assert len(line.signature) == 64


def test_extension_lines_round_trip(ed25519: Ed25519Signer) -> None:
    checkpoint = Checkpoint(LOG, 7, b"\x07" * 32, ("时间 2025-01-01T00:00:00+08:00",))
    note = sign_checkpoint(checkpoint, [(LOG, ed25519)])
    assert verify_note(note, trust(LOG, ed25519)) == checkpoint


def test_witness_cosigns(
    checkpoint: Checkpoint, sm2: Sm2Signer, ed25519: Ed25519Signer, note: str
) -> None:
    verify_note(note, trust(LOG, sm2))  # the witness checks the log's signature first
    cosigned = cosign_note(note, [(WITNESS, ed25519)])
    assert cosigned.startswith(note)
    both = {**trust(LOG, sm2), **trust(WITNESS, ed25519)}
    assert verify_note(cosigned, both) == checkpoint
    assert verify_note(cosigned, trust(LOG, sm2)) == checkpoint
    assert verify_note(cosigned, trust(WITNESS, ed25519)) == checkpoint
    at_once = sign_checkpoint(checkpoint, [(LOG, sm2), (WITNESS, ed25519)])
    assert verify_note(at_once, both) == checkpoint
    assert [s.name for s in parse_note(at_once)[1]] == [LOG, WITNESS]


def test_missing_required_signature_is_refused(
    sm2: Sm2Signer, ed25519: Ed25519Signer, note: str
) -> None:
    both = {**trust(LOG, sm2), **trust(WITNESS, ed25519)}
    with pytest.raises(ValueError, match=f"lacks a signature from: {WITNESS}"):
        verify_note(note, both)
    with pytest.raises(ValueError, match=f"lacks a signature from: {WITNESS}"):
        verify_note(note, trust(WITNESS, ed25519))
    with pytest.raises(ValueError, match="at least one trusted key"):
        verify_note(note, {})


def test_signatures_from_unknown_keys_are_ignored(
    checkpoint: Checkpoint, sm2: Sm2Signer, stranger: Ed25519Signer, note: str
) -> None:
    with_stranger = cosign_note(note, [("stranger.example", stranger)])
    assert verify_note(with_stranger, trust(LOG, sm2)) == checkpoint
    # Same name as the log but another key (e.g. a rotated key): not the trusted key, ignored.
    with_impostor = cosign_note(note, [(LOG, stranger)])
    assert verify_note(with_impostor, trust(LOG, sm2)) == checkpoint
    # An unknown signature that is not even valid is still only ignored.
    junk = SignatureLine("stranger.example", b"\x00\x00\x00\x00", b"\x01" * 64).line()
    assert verify_note(note + junk, trust(LOG, sm2)) == checkpoint
    # A note signed only by unknown keys is refused.
    only_stranger = sign_checkpoint(checkpoint, [("stranger.example", stranger)])
    with pytest.raises(ValueError, match=f"lacks a signature from: {LOG}"):
        verify_note(only_stranger, trust(LOG, sm2))
    # Trusting a different public key under the log's name: the real signature is unknown.
    with pytest.raises(ValueError, match="lacks a signature"):
        verify_note(note, {LOG: ("ed25519", stranger.public_key_bytes())})


def test_tampering_is_detected(
    checkpoint: Checkpoint, sm2: Sm2Signer, ed25519: Ed25519Signer, note: str
) -> None:
    keys = trust(LOG, sm2)
    other_root = base64.b64encode(bytes(32)).decode()
    tampered = {
        "size": replace_line(note, 1, "43"),
        "root": replace_line(note, 2, other_root),
        "origin": replace_line(note, 0, "evil.example/ledger"),
    }
    for what, text in tampered.items():
        assert parse_note(text)[0] != checkpoint, what
        with pytest.raises(ValueError, match=f"invalid sm2 signature from key {LOG}"):
            verify_note(text, keys)
    (line,) = parse_note(note)[1]
    bad_signature = bytes([line.signature[0] ^ 1]) + line.signature[1:]
    forged = note.split("\n\n")[0] + "\n\n" + SignatureLine(LOG, line.key_id, bad_signature).line()
    with pytest.raises(ValueError, match="invalid sm2 signature"):
        verify_note(forged, keys)
    truncated = SignatureLine(LOG, line.key_id, line.signature[:-1]).line()
    with pytest.raises(ValueError, match="invalid sm2 signature"):
        verify_note(note.split("\n\n")[0] + "\n\n" + truncated, keys)
    # A bad trusted signature rejects the note even when another trusted signature is good.
    cosigned = cosign_note(forged, [(WITNESS, ed25519)])
    with pytest.raises(ValueError, match="invalid sm2 signature"):
        verify_note(cosigned, {**keys, **trust(WITNESS, ed25519)})


def test_origin_check(note: str, sm2: Sm2Signer) -> None:
    with pytest.raises(
        ValueError, match=re.escape("origin is 'gongshu.example/ledger', expected 'x/y'")
    ):
        verify_note(note, trust(LOG, sm2), origin="x/y")


def test_signing_refuses_bad_requests(
    checkpoint: Checkpoint, sm2: Sm2Signer, ed25519: Ed25519Signer
) -> None:
    with pytest.raises(ValueError, match="at least one signer"):
        sign_checkpoint(checkpoint, [])
    with pytest.raises(ValueError, match="key name"):
        sign_checkpoint(checkpoint, [("bad name", ed25519)])
    with pytest.raises(ValueError, match="two signatures from key"):
        sign_checkpoint(checkpoint, [(LOG, ed25519), (LOG, ed25519)])


# --- Malformed notes.


def malformed_cases(note: str) -> list[tuple[str, str, str]]:
    body, signatures = note.split("\n\n")
    origin, size, root = body.split("\n")
    name, blob = signatures.removesuffix("\n").removeprefix(f"{DASH} ").split(" ")
    sig = signatures
    return [
        ("no blank line", body + "\n" + sig, "no blank line"),
        ("no signatures", body + "\n\n", "no signature lines"),
        ("empty note", "", "must end with a newline"),
        ("trailing garbage", note + "garbage", "must end with a newline"),
        ("trailing line", note + "garbage\n", "signature line 2 does not start with an em dash"),
        ("hyphen", body + "\n\n" + sig.replace(DASH, "-"), "does not start with an em dash"),
        ("no space", body + f"\n\n{DASH} {name}{blob}\n", "no space between"),
        ("bad base64", body + f"\n\n{DASH} {name} {blob[:-2]}!!\n", "not valid base64"),
        ("unpadded", body + f"\n\n{DASH} {name} {blob.rstrip('=')}\n", "not valid base64"),
        ("short sig", body + f"\n\n{DASH} {name} AAAAAA==\n", "shorter than a key ID"),
        ("plus name", body + f"\n\n{DASH} a+b {blob}\n", "must not contain spaces or '\\+'"),
        ("empty name", body + f"\n\n{DASH}  {blob}\n", "key name must be a non-empty"),
        ("CRLF", note.replace("\n", "\r\n"), "control character '\\\\r'"),
        ("NUL", note.replace(origin, origin + "\x00"), "control character"),
        ("surrogate", note.replace(origin, origin + "\udc00"), "lone surrogate"),
        ("size word", f"{origin}\nforty\n{root}\n\n{sig}", "tree size .* decimal"),
        ("size sign", f"{origin}\n-42\n{root}\n\n{sig}", "tree size .* decimal"),
        ("size zero-padded", f"{origin}\n042\n{root}\n\n{sig}", "without leading zeros"),
        ("size spaced", f"{origin}\n 42\n{root}\n\n{sig}", "tree size .* decimal"),
        ("size full-width", f"{origin}\n\uff14\uff12\n{root}\n\n{sig}", "tree size .* decimal"),
        ("size huge", f"{origin}\n{'9' * 5000}\n{root}\n\n{sig}", "too large"),
        ("root base64", f"{origin}\n{size}\n{root[:-1]}*\n\n{sig}", "root hash .* base64"),
        ("root empty", f"{origin}\n{size}\n\n\n{sig}", "three lines|base64"),
        ("two lines", f"{origin}\n{size}\n\n{sig}", "at least three lines"),
        ("empty origin", f"\n{size}\n{root}\n\n{sig}", "origin \\(line 1\\) is empty"),
        ("blank in body", f"{origin}\n{size}\n{root}\n\nextension\n\n{sig}", "line 4"),
        ("duplicate", note + sig, "two signatures from key"),
        ("too many", body + "\n\n" + sig * (MAX_SIGNATURES + 1), "more than 100 signatures"),
    ]


def test_malformed_notes_are_refused_with_clear_messages(note: str, sm2: Sm2Signer) -> None:
    for what, text, message in malformed_cases(note):
        with pytest.raises(ValueError, match=message):
            parse_note(text)
        with pytest.raises(ValueError, match=message):
            verify_note(text, trust(LOG, sm2))
        assert what


def test_non_text_notes_are_refused(note: str) -> None:
    with pytest.raises(ValueError, match="must be text"):
        parse_note(note.encode())  # type: ignore[arg-type]
