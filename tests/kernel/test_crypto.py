"""Tests for gongshu.kernel.crypto: standard vectors, tamper detection, key files."""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from gmssl import sm3 as gmssl_sm3
from gmssl.sm2 import CryptSM2, default_ecc_table

from gongshu.kernel import crypto
from gongshu.kernel.crypto import (
    CryptoError,
    Ed25519Signer,
    Hasher,
    Sm2Signer,
    SymmetricKey,
    load_or_create_signer,
    load_or_create_symmetric_key,
    sm2_decrypt,
    sm2_encrypt,
    sm3,
    sm3_hex,
    verify,
)

# GB/T 32918.5-2017 (GM/T 0003.5-2012) Annex A/C examples on the recommended curve.
SM2_D = bytes.fromhex("3945208F7B2144B13F36E38AC6D39F95889393692860B51A42FB81EF4DF7C5B8")
SM2_PUB = bytes.fromhex(
    "09F9DF311E5421A150DD7D161E4BC5C672179FAD1833FC076BB08FF356F35020"
    "CCEA490CE26775A52DC6EA718CC1AA600AED05FBF35E084A6632F6072DA9AD13"
)
SM2_K = int("59276E27D506861A16680F3AD9C02DCCEF3CC1FA3CDBE4CE6D54B80DEAC1BC21", 16)
SM2_SIG = bytes.fromhex(
    "F5A03B0648D2C4630EEAC513E1BB81A15944DA3827D5B74143AC7EACEEE720B3"
    "B1B6AA29DF212FD8763182BC0D421CA1BB9038FD1F7F42D4840B69C485BBC1AA"
)
SM2_CIPHERTEXT = bytes.fromhex(
    "04"
    "04EBFC718E8D1798620432268E77FEB6415E2EDE0E073C0F4F640ECD2E149A73"
    "E858F9D81E5430A57B36DAAB8F950A3C64E6EE6A63094D99283AFF767E124DF0"
    "59983C18F809E262923C53AEC295D30383B54E39D609D160AFCB1908D0BD8766"
    "21886CA989CA9C7D58087307CA93092D651EFA"
)


def flip(data: bytes, index: int) -> bytes:
    out = bytearray(data)
    out[index] ^= 0x01
    return bytes(out)


# --- hashing ---------------------------------------------------------------------------------


def test_sm3_standard_vectors() -> None:
    assert sm3_hex(b"abc") == "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0"
    assert (
        sm3_hex(b"abcd" * 16) == "debe9ff92275b8a138604889c18e5a4d6fdb70e5387e5765293dcba39c0c5732"
    )
    assert sm3(b"abc").hex() == sm3_hex(b"abc")
    assert Hasher().hexdigest(b"abc") == sm3_hex(b"abc")
    assert gmssl_sm3.sm3_hash(list(b"abcd" * 16)) == sm3_hex(b"abcd" * 16)


def test_sha256_vector_and_hasher_api() -> None:
    hasher = Hasher("sha256")
    assert hasher.name == "sha256"
    assert hasher.digest_size == 32
    assert (
        hasher.hexdigest(b"abc")
        == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    )
    assert Hasher().name == "sm3"
    assert Hasher().digest_size == 32


@pytest.mark.parametrize("algorithm", ["sm3", "sha256"])
def test_incremental_hash_matches_one_shot(algorithm: crypto.HashAlgorithm) -> None:
    hasher = Hasher(algorithm)
    context = hasher.new()
    for chunk in (b"ab", b"cdab", b"cd" + b"abcd" * 14):
        context.update(chunk)
    assert context.finalize() == hasher.digest(b"abcd" * 16)


def test_unknown_hash_rejected() -> None:
    with pytest.raises(ValueError, match="md5"):
        Hasher("md5")  # type: ignore[arg-type]


# --- symmetric encryption --------------------------------------------------------------------


def test_sm4_block_cipher_standard_vector() -> None:
    key = bytes.fromhex("0123456789abcdeffedcba9876543210")
    encryptor = Cipher(algorithms.SM4(key), modes.ECB()).encryptor()
    assert (encryptor.update(key) + encryptor.finalize()).hex() == (
        "681edf34d206965e86b3e94f536e4246"
    )


def test_sm4_gcm_rfc8998_vector_decrypts() -> None:
    key = SymmetricKey(bytes.fromhex("0123456789ABCDEFFEDCBA9876543210"))
    blob = bytes.fromhex(
        "01"
        "00001234567800000000ABCD"
        "17F399F08C67D5EE19D0DC9969C4BB7D5FD46FD3756489069157B282BB200735"
        "D82710CA5C22F0CCFA7CBF93D496AC15A56834CBCF98C397B4024A2691233B8D"
        "83DE3541E4C2B58177E065A9BF7B62EC"
    )
    aad = bytes.fromhex("FEEDFACEDEADBEEFFEEDFACEDEADBEEFABADDAD2")
    assert key.decrypt(blob, aad) == bytes.fromhex(
        "AAAAAAAAAAAAAAAABBBBBBBBBBBBBBBBCCCCCCCCCCCCCCCCDDDDDDDDDDDDDDDD"
        "EEEEEEEEEEEEEEEEFFFFFFFFFFFFFFFFEEEEEEEEEEEEEEEEAAAAAAAAAAAAAAAA"
    )


@pytest.mark.parametrize(("algorithm", "version"), [("sm4-gcm", 1), ("aes-256-gcm", 2)])
def test_gcm_round_trip_and_layout(algorithm: crypto.SymmetricAlgorithm, version: int) -> None:
    key = SymmetricKey.generate(algorithm)
    assert key.algorithm == algorithm
    blob = key.encrypt(b"citizen record", aad=b"table=people")
    assert blob[0] == version
    assert len(blob) == 1 + 12 + len(b"citizen record") + 16
    assert key.decrypt(blob, aad=b"table=people") == b"citizen record"
    assert key.encrypt(b"citizen record", aad=b"table=people") != blob  # fresh nonce
    assert key.decrypt(key.encrypt(b"")) == b""
    assert "key=" not in repr(key) and key._key.hex() not in repr(key)


@pytest.mark.parametrize("algorithm", ["sm4-gcm", "aes-256-gcm"])
def test_gcm_detects_tampering(algorithm: crypto.SymmetricAlgorithm) -> None:
    key = SymmetricKey.generate(algorithm)
    blob = key.encrypt(b"payload", aad=b"ctx")
    for index in range(len(blob)):
        with pytest.raises(CryptoError):
            key.decrypt(flip(blob, index), aad=b"ctx")
    with pytest.raises(CryptoError, match="associated data"):
        key.decrypt(blob, aad=b"other")
    with pytest.raises(CryptoError, match="associated data"):
        key.decrypt(blob)
    with pytest.raises(CryptoError, match="wrong key"):
        SymmetricKey.generate(algorithm).decrypt(blob, aad=b"ctx")
    with pytest.raises(CryptoError, match="too short"):
        key.decrypt(blob[:28], aad=b"ctx")


def test_gcm_algorithm_mismatch_and_key_sizes() -> None:
    blob = SymmetricKey.generate("sm4-gcm").encrypt(b"x")
    with pytest.raises(CryptoError, match="sm4-gcm"):
        SymmetricKey.generate("aes-256-gcm").decrypt(blob)
    with pytest.raises(CryptoError, match="16 bytes"):
        SymmetricKey(b"\x00" * 32, "sm4-gcm")
    with pytest.raises(CryptoError, match="32 bytes"):
        SymmetricKey(b"\x00" * 16, "aes-256-gcm")
    assert issubclass(CryptoError, ValueError)


# --- SM2 -------------------------------------------------------------------------------------


def test_curve_constants_match_gmssl() -> None:
    ours = {"p": crypto._SM2_P, "a": crypto._SM2_A, "b": crypto._SM2_B, "n": crypto._SM2_N}
    assert ours == {name: int(default_ecc_table[name], 16) for name in ours}
    assert default_ecc_table["g"].lower() == crypto._SM2_G


def test_sm2_standard_signature_vector() -> None:
    signer = Sm2Signer.from_private_bytes(SM2_D)
    assert signer.algorithm == "sm2"
    assert signer.public_key_bytes() == SM2_PUB
    assert signer._sign_with_k(b"message digest", SM2_K) == SM2_SIG
    assert verify("sm2", SM2_PUB, b"message digest", SM2_SIG)
    assert verify("sm2", b"\x04" + SM2_PUB, b"message digest", SM2_SIG)
    assert not verify("sm2", SM2_PUB, b"message digesT", SM2_SIG)


def test_sm2_sign_verify_round_trip() -> None:
    signer = Sm2Signer.generate()
    public = signer.public_key_bytes()
    assert len(public) == 64
    signature = signer.sign(b"approve dataset 42")
    assert len(signature) == 64
    assert verify("sm2", public, b"approve dataset 42", signature)
    assert verify("sm2", b"\x04" + public, b"approve dataset 42", signature)
    assert not verify("sm2", public, b"approve dataset 43", signature)
    for index in (0, 31, 32, 63):
        assert not verify("sm2", public, b"approve dataset 42", flip(signature, index))
    other = Sm2Signer.generate().public_key_bytes()
    assert not verify("sm2", other, b"approve dataset 42", signature)


@pytest.mark.parametrize(
    ("public_key", "signature"),
    [
        (SM2_PUB, b""),
        (SM2_PUB, SM2_SIG[:63]),
        (SM2_PUB, SM2_SIG + b"\x00"),
        (SM2_PUB, b"\x00" * 64),
        (SM2_PUB, b"\xff" * 64),
        (SM2_PUB, crypto._SM2_N.to_bytes(32) + SM2_SIG[32:]),
        (SM2_PUB, SM2_SIG[:32] + b"\x00" * 32),
        (b"", SM2_SIG),
        (SM2_PUB[:63], SM2_SIG),
        (b"\x05" + SM2_PUB, SM2_SIG),
        (flip(SM2_PUB, 63), SM2_SIG),  # not on the curve
        (b"\x00" * 64, SM2_SIG),
        (b"\xff" * 64, SM2_SIG),
    ],
)
def test_sm2_verify_rejects_malformed_input(public_key: bytes, signature: bytes) -> None:
    assert verify("sm2", public_key, b"message digest", signature) is False


def test_sm2_interoperates_with_gmssl() -> None:
    signer = Sm2Signer.from_private_bytes(SM2_D)
    signature = signer.sign(b"interop")
    reference = CryptSM2(private_key=SM2_D.hex(), public_key=SM2_PUB.hex())
    assert reference.verify_with_sm3(signature.hex(), b"interop")
    theirs = bytes.fromhex(reference.sign_with_sm3(b"from gmssl", f"{123456789:064x}"))
    assert verify("sm2", SM2_PUB, b"from gmssl", theirs)


def test_sm2_public_key_starting_with_04_survives() -> None:
    # gmssl's CryptSM2 constructor does public_key.lstrip("04"), which eats leading 0/4 digits.
    signer = Sm2Signer(SM2_K)  # k*G from the standard example has x = 04EBFC71...
    public = signer.public_key_bytes()
    assert public.hex().startswith("04eb")
    assert CryptSM2(private_key="", public_key=public.hex()).public_key != public.hex()
    assert verify("sm2", public, b"m", signer.sign(b"m"))
    assert sm2_decrypt(signer, sm2_encrypt(public, b"m")) == b"m"


def test_sm2_private_key_range() -> None:
    for _ in range(5):
        assert 1 <= Sm2Signer.generate()._d <= crypto._SM2_N - 2
    for bad in (0, crypto._SM2_N - 1, crypto._SM2_N):
        with pytest.raises(CryptoError):
            Sm2Signer(bad)
    with pytest.raises(CryptoError, match="32 bytes"):
        Sm2Signer.from_private_bytes(b"\x01" * 31)


def test_sm2_encryption_standard_vector() -> None:
    assert crypto._sm2_encrypt_with_k(SM2_PUB, b"encryption standard", SM2_K) == SM2_CIPHERTEXT
    assert sm2_decrypt(SM2_D, SM2_CIPHERTEXT) == b"encryption standard"


def test_sm2_encryption_round_trip_and_layout() -> None:
    signer = Sm2Signer.generate()
    plaintext = b"identity card 330106199001011234"
    ciphertext = sm2_encrypt(signer.public_key_bytes(), plaintext)
    assert len(ciphertext) == 65 + 32 + len(plaintext)
    assert ciphertext[0] == 0x04
    assert crypto._sm2_point(ciphertext[:65]) is not None  # C1 is a curve point
    shared = bytes.fromhex(crypto._sm2_mul(signer._d, ciphertext[1:65].hex()))
    assert ciphertext[65:97] == sm3(shared[:32] + plaintext + shared[32:])  # C3 before C2
    assert sm2_decrypt(signer, ciphertext) == plaintext
    assert sm2_decrypt(signer._d.to_bytes(32), ciphertext) == plaintext
    assert sm2_decrypt(signer, sm2_encrypt(signer.public_key_bytes(), b"")) == b""
    assert sm2_encrypt(signer.public_key_bytes(), plaintext) != ciphertext


def test_sm2_encryption_interoperates_with_gmssl_mode1() -> None:
    reference = CryptSM2(private_key=SM2_D.hex(), public_key=SM2_PUB.hex(), mode=1)
    ours = sm2_encrypt(SM2_PUB, b"to gmssl")
    assert reference.decrypt(ours[1:]) == b"to gmssl"  # gmssl writes C1 without 0x04
    theirs = reference.encrypt(b"from gmssl")
    assert len(theirs) == 64 + 32 + len(b"from gmssl")
    assert sm2_decrypt(SM2_D, theirs) == b"from gmssl"


def test_sm2_decryption_detects_tampering() -> None:
    signer = Sm2Signer.from_private_bytes(SM2_D)
    for index in (0, 1, 64, 65, 96, 97, len(SM2_CIPHERTEXT) - 1):
        with pytest.raises(CryptoError):
            sm2_decrypt(signer, flip(SM2_CIPHERTEXT, index))
    with pytest.raises(CryptoError, match="wrong key"):
        sm2_decrypt(Sm2Signer.generate(), SM2_CIPHERTEXT)
    with pytest.raises(CryptoError, match="malformed"):
        sm2_decrypt(signer, SM2_CIPHERTEXT[:90])
    with pytest.raises(CryptoError, match="public key"):
        sm2_encrypt(flip(SM2_PUB, 5), b"x")


# --- Ed25519 ---------------------------------------------------------------------------------

ED_SECRET = bytes.fromhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
ED_PUBLIC = bytes.fromhex("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")
ED_SIG = bytes.fromhex(
    "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555"
    "fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"
)


def test_ed25519_rfc8032_vector_1() -> None:
    signer = Ed25519Signer.from_private_bytes(ED_SECRET)
    assert signer.algorithm == "ed25519"
    assert signer.public_key_bytes() == ED_PUBLIC
    assert signer.sign(b"") == ED_SIG
    assert verify("ed25519", ED_PUBLIC, b"", ED_SIG)
    assert not verify("ed25519", ED_PUBLIC, b"x", ED_SIG)
    assert not verify("ed25519", ED_PUBLIC, b"", flip(ED_SIG, 10))
    assert not verify("ed25519", ED_PUBLIC[:31], b"", ED_SIG)
    assert not verify("ed25519", ED_PUBLIC, b"", ED_SIG[:63])
    with pytest.raises(CryptoError):
        Ed25519Signer.from_private_bytes(ED_SECRET[:31])


def test_ed25519_round_trip_and_algorithm_mismatch() -> None:
    signer = Ed25519Signer.generate()
    signature = signer.sign(b"hello")
    assert verify("ed25519", signer.public_key_bytes(), b"hello", signature)
    assert not verify("sm2", signer.public_key_bytes(), b"hello", signature)
    assert not verify("rsa", signer.public_key_bytes(), b"hello", signature)  # type: ignore[arg-type]


# --- key files -------------------------------------------------------------------------------


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.parametrize(
    ("algorithm", "filename"), [("sm2", "sm2-signing.key"), ("ed25519", "ed25519-signing.pem")]
)
def test_signer_key_file(
    tmp_path: Path, algorithm: crypto.SignatureAlgorithm, filename: str
) -> None:
    home = tmp_path / "data" / "keys"
    first = load_or_create_signer(home, algorithm)
    path = home / filename
    assert first.algorithm == algorithm
    assert mode_of(path) == 0o600
    assert mode_of(home) == 0o700
    assert os.listdir(home) == [filename]  # no temp files left behind
    second = load_or_create_signer(home, algorithm)
    assert second.public_key_bytes() == first.public_key_bytes()
    assert verify(algorithm, first.public_key_bytes(), b"m", second.sign(b"m"))
    content = path.read_bytes()
    if algorithm == "sm2":
        assert len(content.strip()) == 64 and int(content, 16) == first._d  # type: ignore[attr-defined]
    else:
        assert content.startswith(b"-----BEGIN PRIVATE KEY-----")


@pytest.mark.parametrize(
    ("algorithm", "filename", "garbage"),
    [
        (
            "sm2",
            "sm2-signing.key",
            b"not hex at all, not hex at all, not hex at all, not hex at all!",
        ),
        ("sm2", "sm2-signing.key", b"abcd\n"),
        ("sm2", "sm2-signing.key", b"00" * 32),
        ("sm2", "sm2-signing.key", b"\xff\xfe"),
        ("ed25519", "ed25519-signing.pem", b"-----BEGIN PRIVATE KEY-----\nxx\n"),
        ("ed25519", "ed25519-signing.pem", b""),
    ],
)
def test_corrupted_signer_file(
    tmp_path: Path, algorithm: crypto.SignatureAlgorithm, filename: str, garbage: bytes
) -> None:
    (tmp_path / filename).write_bytes(garbage)
    with pytest.raises(CryptoError, match=re.escape(str(tmp_path / filename))):
        load_or_create_signer(tmp_path, algorithm)


def test_ed25519_file_holding_another_key_type(tmp_path: Path) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    pem = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    (tmp_path / "ed25519-signing.pem").write_bytes(pem)
    with pytest.raises(CryptoError, match=r"ed25519-signing\.pem"):
        load_or_create_signer(tmp_path, "ed25519")


@pytest.mark.parametrize(
    ("algorithm", "filename", "size"),
    [("sm4-gcm", "sm4.key", 16), ("aes-256-gcm", "aes256.key", 32)],
)
def test_symmetric_key_file(
    tmp_path: Path, algorithm: crypto.SymmetricAlgorithm, filename: str, size: int
) -> None:
    first = load_or_create_symmetric_key(tmp_path / "home", algorithm)
    path = tmp_path / "home" / filename
    assert mode_of(path) == 0o600
    assert len(bytes.fromhex(path.read_text())) == size
    second = load_or_create_symmetric_key(tmp_path / "home", algorithm)
    assert second.algorithm == algorithm
    assert second.decrypt(first.encrypt(b"secret")) == b"secret"
    path.write_text("00" * (size - 1))
    with pytest.raises(CryptoError, match=re.escape(str(path))):
        load_or_create_symmetric_key(tmp_path / "home", algorithm)
    path.write_text("zz" * size)
    with pytest.raises(CryptoError, match=re.escape(str(path))):
        load_or_create_symmetric_key(tmp_path / "home", algorithm)


def test_existing_directory_permissions_untouched(tmp_path: Path) -> None:
    tmp_path.chmod(0o755)
    load_or_create_symmetric_key(tmp_path)
    assert mode_of(tmp_path) == 0o755
    assert mode_of(tmp_path / "sm4.key") == 0o600


def test_create_never_clobbers_existing_key(tmp_path: Path) -> None:
    path = tmp_path / "sm4.key"
    assert crypto._create_exclusive(path, b"first\n")
    assert not crypto._create_exclusive(path, b"second\n")
    assert path.read_bytes() == b"first\n"
    assert os.listdir(tmp_path) == ["sm4.key"]


def test_public_names_exported() -> None:
    for name in crypto.__all__:
        assert hasattr(crypto, name), name
