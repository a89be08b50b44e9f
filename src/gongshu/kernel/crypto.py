"""Commercial cryptography (SM2, SM3, SM4) with an international option (Ed25519, SHA-256, AES).

Ciphertext blobs from :class:`SymmetricKey` are ``version (1) || nonce (12) || ciphertext || tag
(16)``; version 0x01 is SM4-GCM, 0x02 AES-256-GCM. SM2 signatures are raw ``r || s`` (64 bytes),
computed over SM3(Z_A || M) with the default user ID ``1234567812345678``; SM2 public keys are
``x || y`` (64 bytes). SM2 ciphertexts are ``04 || C1 || C3 || C2`` (GB/T 32918.4, C1C3C2 order).
gmssl supplies the SM2 point arithmetic; its constructor and ``encrypt``/``decrypt`` are avoided
because it mangles public keys that start with ``04`` (``str.lstrip``), draws the encryption
nonce from :mod:`random`, and never checks C3 when decrypting.
"""

from __future__ import annotations

import contextlib
import hmac
import os
import secrets
import tempfile
from abc import ABC, abstractmethod
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar, Literal, TypeVar

from cryptography.exceptions import InvalidSignature, InvalidTag, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from gmssl.sm2 import CryptSM2

__all__ = [
    "CryptoError",
    "Ed25519Signer",
    "HashAlgorithm",
    "Hasher",
    "SignatureAlgorithm",
    "Signer",
    "Sm2Signer",
    "SymmetricAlgorithm",
    "SymmetricKey",
    "load_or_create_signer",
    "load_or_create_symmetric_key",
    "sm2_decrypt",
    "sm2_encrypt",
    "sm3",
    "sm3_hex",
    "verify",
]

HashAlgorithm = Literal["sm3", "sha256"]
SymmetricAlgorithm = Literal["sm4-gcm", "aes-256-gcm"]
SignatureAlgorithm = Literal["sm2", "ed25519"]

_T = TypeVar("_T")

# SM2 recommended curve (GB/T 32918.5); equal to gmssl.sm2.default_ecc_table.
_SM2_P = 0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF00000000FFFFFFFFFFFFFFFF
_SM2_A = 0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF00000000FFFFFFFFFFFFFFFC
_SM2_B = 0x28E9FA9E9D9F5E344D5A9E4BCF6509A7F39789F515AB8F92DDBCBD414D940E93
_SM2_N = 0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFF7203DF6B21C6052B53BBF40939D54123
_SM2_G = (
    "32c4ae2c1f1981195f9904466a39c9948fe30bbff2660be1715a4589334c74c7"
    "bc3736a2f4f6779c59bdcee36b692153d0a9877cc62a474002df32e52139f0a0"
)

_NONCE_SIZE = 12
_TAG_SIZE = 16
_VERSIONS: dict[SymmetricAlgorithm, int] = {"sm4-gcm": 0x01, "aes-256-gcm": 0x02}
_KEY_SIZES: dict[SymmetricAlgorithm, int] = {"sm4-gcm": 16, "aes-256-gcm": 32}
_SYMMETRIC_FILES: dict[SymmetricAlgorithm, str] = {
    "sm4-gcm": "sm4.key",
    "aes-256-gcm": "aes256.key",
}
_SIGNER_FILES: dict[SignatureAlgorithm, str] = {
    "sm2": "sm2-signing.key",
    "ed25519": "ed25519-signing.pem",
}


class CryptoError(ValueError):
    """A cryptographic operation failed or key material is invalid."""


class Hasher:
    """A message digest: SM3 (GB/T 32905, the default) or SHA-256."""

    def __init__(self, algorithm: HashAlgorithm = "sm3") -> None:
        if algorithm not in ("sm3", "sha256"):
            raise ValueError(f"unsupported hash algorithm: {algorithm!r}")
        self.name: HashAlgorithm = algorithm

    @property
    def digest_size(self) -> int:
        """Digest length in bytes."""
        return self._algorithm().digest_size

    def _algorithm(self) -> hashes.HashAlgorithm:
        return hashes.SM3() if self.name == "sm3" else hashes.SHA256()

    def new(self) -> hashes.Hash:
        """Return an incremental hash object (``update`` / ``finalize``)."""
        return hashes.Hash(self._algorithm())

    def digest(self, data: bytes) -> bytes:
        """Return the digest of ``data``."""
        context = self.new()
        context.update(data)
        return context.finalize()

    def hexdigest(self, data: bytes) -> str:
        """Return the digest of ``data`` as lowercase hex."""
        return self.digest(data).hex()


def sm3(data: bytes) -> bytes:
    """Return the SM3 digest of ``data``."""
    return Hasher("sm3").digest(data)


def sm3_hex(data: bytes) -> str:
    """Return the SM3 digest of ``data`` as lowercase hex."""
    return sm3(data).hex()


class SymmetricKey:
    """An AEAD key: SM4-GCM (default) or AES-256-GCM, producing self-describing blobs."""

    def __init__(self, key: bytes, algorithm: SymmetricAlgorithm = "sm4-gcm") -> None:
        if algorithm not in _KEY_SIZES:
            raise CryptoError(f"unsupported symmetric algorithm: {algorithm!r}")
        if len(key) != _KEY_SIZES[algorithm]:
            raise CryptoError(
                f"{algorithm} key must be {_KEY_SIZES[algorithm]} bytes, not {len(key)}"
            )
        self.algorithm: SymmetricAlgorithm = algorithm
        self._key = bytes(key)

    def __repr__(self) -> str:
        return f"SymmetricKey(algorithm={self.algorithm!r})"

    @classmethod
    def generate(cls, algorithm: SymmetricAlgorithm = "sm4-gcm") -> SymmetricKey:
        """Return a fresh random key."""
        return cls(secrets.token_bytes(_KEY_SIZES[algorithm]), algorithm)

    def _cipher(self, mode: modes.GCM) -> Cipher[modes.GCM]:
        if self.algorithm == "sm4-gcm":
            return Cipher(algorithms.SM4(self._key), mode)
        return Cipher(algorithms.AES(self._key), mode)

    def encrypt(self, plaintext: bytes, aad: bytes = b"") -> bytes:
        """Encrypt and authenticate ``plaintext`` (and ``aad``) into one blob."""
        nonce = secrets.token_bytes(_NONCE_SIZE)
        encryptor = self._cipher(modes.GCM(nonce)).encryptor()
        encryptor.authenticate_additional_data(aad)
        body = encryptor.update(plaintext) + encryptor.finalize()
        return bytes([_VERSIONS[self.algorithm]]) + nonce + body + encryptor.tag

    def decrypt(self, blob: bytes, aad: bytes = b"") -> bytes:
        """Verify and decrypt a blob from :meth:`encrypt`; raise CryptoError if it fails."""
        if len(blob) < 1 + _NONCE_SIZE + _TAG_SIZE:
            raise CryptoError("ciphertext is too short")
        if blob[0] != _VERSIONS[self.algorithm]:
            known = {v: a for a, v in _VERSIONS.items()}.get(blob[0], f"unknown 0x{blob[0]:02x}")
            raise CryptoError(f"ciphertext is {known}, but this key is {self.algorithm}")
        nonce, body, tag = (
            blob[1 : 1 + _NONCE_SIZE],
            blob[1 + _NONCE_SIZE : -_TAG_SIZE],
            blob[-_TAG_SIZE:],
        )
        decryptor = self._cipher(modes.GCM(nonce, tag)).decryptor()
        decryptor.authenticate_additional_data(aad)
        try:
            return decryptor.update(body) + decryptor.finalize()
        except InvalidTag:
            raise CryptoError(
                f"{self.algorithm} decryption failed: wrong key, wrong associated data "
                "or tampered ciphertext"
            ) from None


def _sm2_engine(private_hex: str = "", public_hex: str = "") -> Any:
    engine = CryptSM2(private_key=private_hex, public_key="", mode=1)
    engine.public_key = public_hex  # set directly: the constructor's lstrip("04") corrupts keys
    return engine


def _sm2_mul(k: int, point_hex: str) -> str:
    result: str | None = _sm2_engine()._kg(k, point_hex)
    if not isinstance(result, str):
        raise CryptoError("SM2 point multiplication reached the point at infinity")
    return result


def _sm2_point(data: bytes) -> str | None:
    """Return ``x || y`` hex of a public point (64 bytes, or 65 with 0x04) on the curve."""
    if len(data) == 65 and data[0] == 0x04:
        data = data[1:]
    if len(data) != 64:
        return None
    x, y = int.from_bytes(data[:32]), int.from_bytes(data[32:])
    if x >= _SM2_P or y >= _SM2_P or (y * y - x * x * x - _SM2_A * x - _SM2_B) % _SM2_P:
        return None
    return data.hex()


def _sm2_kdf(z: bytes, length: int) -> bytes:
    out = b""
    counter = 1
    while len(out) < length:
        out += sm3(z + counter.to_bytes(4))
        counter += 1
    return out[:length]


def _xor(data: bytes, pad: bytes) -> bytes:
    return (int.from_bytes(data) ^ int.from_bytes(pad)).to_bytes(len(data)) if data else b""


class Signer(ABC):
    """A private signing key; check its signatures with the module-level :func:`verify`."""

    algorithm: ClassVar[SignatureAlgorithm]

    @abstractmethod
    def public_key_bytes(self) -> bytes:
        """Return the raw public key (SM2: 64-byte x||y; Ed25519: 32 bytes)."""

    @abstractmethod
    def sign(self, message: bytes) -> bytes:
        """Return a signature over ``message``."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}(public_key={self.public_key_bytes().hex()})"


class Sm2Signer(Signer):
    """An SM2 private key signing with SM3 and the default user ID (GB/T 32918.2)."""

    algorithm: ClassVar[SignatureAlgorithm] = "sm2"

    def __init__(self, private_key: int) -> None:
        if not 1 <= private_key <= _SM2_N - 2:
            raise CryptoError("SM2 private key is outside [1, n-2]")
        self._d = private_key
        self._public_hex = _sm2_mul(private_key, _SM2_G)

    @classmethod
    def generate(cls) -> Sm2Signer:
        """Return a fresh random key."""
        return cls(secrets.randbelow(_SM2_N - 2) + 1)

    @classmethod
    def from_private_bytes(cls, data: bytes) -> Sm2Signer:
        """Load a key from its 32-byte big-endian private scalar."""
        if len(data) != 32:
            raise CryptoError(f"SM2 private key must be 32 bytes, not {len(data)}")
        return cls(int.from_bytes(data))

    def public_key_bytes(self) -> bytes:
        """Return the 64-byte uncompressed public key x||y."""
        return bytes.fromhex(self._public_hex)

    def _sign_with_k(self, message: bytes, k: int) -> bytes | None:
        engine = _sm2_engine(f"{self._d:064x}", self._public_hex)
        signature: str | None = engine.sign_with_sm3(message, f"{k:064x}")
        return None if signature is None else bytes.fromhex(signature)

    def sign(self, message: bytes) -> bytes:
        """Return the 64-byte r||s SM2 signature of ``message``."""
        for _ in range(16):  # gmssl returns None for the (negligible) r=0 / r+k=n / s=0 cases
            signature = self._sign_with_k(message, secrets.randbelow(_SM2_N - 1) + 1)
            if signature is not None:
                return signature
        raise CryptoError("SM2 signing failed repeatedly")


class Ed25519Signer(Signer):
    """An Ed25519 private key (RFC 8032) for the international profile."""

    algorithm: ClassVar[SignatureAlgorithm] = "ed25519"

    def __init__(self, private_key: ed25519.Ed25519PrivateKey) -> None:
        self._key = private_key

    @classmethod
    def generate(cls) -> Ed25519Signer:
        """Return a fresh random key."""
        return cls(ed25519.Ed25519PrivateKey.generate())

    @classmethod
    def from_private_bytes(cls, data: bytes) -> Ed25519Signer:
        """Load a key from its 32-byte RFC 8032 secret."""
        try:
            return cls(ed25519.Ed25519PrivateKey.from_private_bytes(data))
        except ValueError as exc:
            raise CryptoError(f"invalid Ed25519 private key: {exc}") from None

    def public_key_bytes(self) -> bytes:
        """Return the 32-byte public key."""
        return self._key.public_key().public_bytes_raw()

    def sign(self, message: bytes) -> bytes:
        """Return the 64-byte Ed25519 signature of ``message``."""
        return self._key.sign(message)


def _sm2_verify(public_key: bytes, message: bytes, signature: bytes) -> bool:
    point = _sm2_point(public_key)
    if point is None or len(signature) != 64:
        return False
    r, s = int.from_bytes(signature[:32]), int.from_bytes(signature[32:])
    if not (1 <= r < _SM2_N and 1 <= s < _SM2_N):
        return False
    return bool(_sm2_engine("", point).verify_with_sm3(signature.hex(), message))


def verify(
    algorithm: SignatureAlgorithm, public_key: bytes, message: bytes, signature: bytes
) -> bool:
    """Return whether ``signature`` is valid; False (never an exception) for any bad input."""
    try:
        if algorithm == "sm2":
            return _sm2_verify(public_key, message, signature)
        if algorithm == "ed25519":
            ed25519.Ed25519PublicKey.from_public_bytes(public_key).verify(signature, message)
            return True
    except (InvalidSignature, ValueError, TypeError, IndexError, ArithmeticError):
        return False
    return False


def _sm2_encrypt_with_k(public_key: bytes, plaintext: bytes, k: int) -> bytes | None:
    point = _sm2_point(public_key)
    if point is None:
        raise CryptoError("invalid SM2 public key")
    c1 = bytes.fromhex(_sm2_mul(k, _SM2_G))
    shared = bytes.fromhex(_sm2_mul(k, point))
    pad = _sm2_kdf(shared, len(plaintext))
    if plaintext and not any(pad):
        return None
    c3 = sm3(shared[:32] + plaintext + shared[32:])
    return b"\x04" + c1 + c3 + _xor(plaintext, pad)


def sm2_encrypt(public_key: bytes, plaintext: bytes) -> bytes:
    """Encrypt to an SM2 public key; returns ``04 || C1 (64) || C3 (32) || C2``."""
    for _ in range(16):
        blob = _sm2_encrypt_with_k(public_key, plaintext, secrets.randbelow(_SM2_N - 1) + 1)
        if blob is not None:
            return blob
    raise CryptoError("SM2 encryption failed repeatedly")


def sm2_decrypt(private_key: Sm2Signer | bytes, ciphertext: bytes) -> bytes:
    """Decrypt a C1C3C2 SM2 ciphertext (C1 with or without 0x04); raise CryptoError if invalid."""
    if isinstance(private_key, Sm2Signer):
        key = private_key
    else:
        key = Sm2Signer.from_private_bytes(private_key)
    c1, rest = None, b""
    if len(ciphertext) >= 65 + 32 and ciphertext[0] == 0x04:
        c1, rest = _sm2_point(ciphertext[:65]), ciphertext[65:]
    if c1 is None and len(ciphertext) >= 64 + 32:
        c1, rest = _sm2_point(ciphertext[:64]), ciphertext[64:]
    if c1 is None:
        raise CryptoError("malformed SM2 ciphertext: C1 is not a point on the curve")
    c3, c2 = rest[:32], rest[32:]
    shared = bytes.fromhex(_sm2_mul(key._d, c1))
    pad = _sm2_kdf(shared, len(c2))
    plaintext = _xor(c2, pad)
    if (c2 and not any(pad)) or not hmac.compare_digest(
        sm3(shared[:32] + plaintext + shared[32:]), c3
    ):
        raise CryptoError("SM2 decryption failed: wrong key or tampered ciphertext")
    return plaintext


def _create_exclusive(path: Path, data: bytes) -> bool:
    """Atomically create ``path`` (mode 0600) holding ``data``; False if it already exists."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            os.fchmod(handle.fileno(), 0o600)
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.link(tmp, path)  # atomic and never clobbers a key another process just wrote
        except FileExistsError:
            return False
        except OSError:  # filesystems without hard links
            os.replace(tmp, path)
        with contextlib.suppress(OSError):
            dir_fd = os.open(path.parent, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)
        return True
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


def _load_or_create(
    path: Path,
    generate: Callable[[], _T],
    dump: Callable[[_T], bytes],
    parse: Callable[[bytes], _T],
) -> _T:
    if not path.exists():
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        value = generate()
        if _create_exclusive(path, dump(value)):
            return value
    try:
        return parse(path.read_bytes())
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise CryptoError(f"corrupted key file {path}: {exc}") from None


def _parse_hex(data: bytes, size: int) -> bytes:
    text = data.decode("ascii").strip()
    if len(text) != 2 * size:
        raise CryptoError(f"expected {2 * size} hex digits, found {len(text)} characters")
    return bytes.fromhex(text)


def _parse_sm2(data: bytes) -> Signer:
    return Sm2Signer.from_private_bytes(_parse_hex(data, 32))


def _parse_ed25519(data: bytes) -> Signer:
    key = serialization.load_pem_private_key(data, password=None)
    if not isinstance(key, ed25519.Ed25519PrivateKey):
        raise CryptoError(f"expected an Ed25519 key, found {type(key).__name__}")
    return Ed25519Signer(key)


def _dump_signer(signer: Signer) -> bytes:
    if isinstance(signer, Sm2Signer):
        return f"{signer._d:064x}\n".encode()
    assert isinstance(signer, Ed25519Signer)
    return signer._key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def load_or_create_signer(directory: Path, algorithm: SignatureAlgorithm = "sm2") -> Signer:
    """Load the signing key kept in ``directory``, creating it (0600) on first use."""
    if algorithm not in _SIGNER_FILES:
        raise ValueError(f"unsupported signature algorithm: {algorithm!r}")
    path = directory / _SIGNER_FILES[algorithm]
    if algorithm == "sm2":
        return _load_or_create(path, Sm2Signer.generate, _dump_signer, _parse_sm2)
    return _load_or_create(path, Ed25519Signer.generate, _dump_signer, _parse_ed25519)


def load_or_create_symmetric_key(
    directory: Path, algorithm: SymmetricAlgorithm = "sm4-gcm"
) -> SymmetricKey:
    """Load the data-encryption key kept in ``directory``, creating it (0600) on first use."""
    if algorithm not in _SYMMETRIC_FILES:
        raise ValueError(f"unsupported symmetric algorithm: {algorithm!r}")
    return _load_or_create(
        directory / _SYMMETRIC_FILES[algorithm],
        lambda: SymmetricKey.generate(algorithm),
        lambda key: f"{key._key.hex()}\n".encode(),
        lambda data: SymmetricKey(_parse_hex(data, _KEY_SIZES[algorithm]), algorithm),
    )
