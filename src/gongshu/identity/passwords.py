"""Password hashing with argon2id; a "fast" profile keeps tests and demos quick."""

from __future__ import annotations

from argon2 import PasswordHasher as _Argon2
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

__all__ = ["PasswordHasher"]


class PasswordHasher:
    """Hash and check passwords; verifying a missing hash still costs one hash (no timing leak)."""

    def __init__(self, profile: str = "strong") -> None:
        if profile == "fast":
            self._argon = _Argon2(time_cost=1, memory_cost=1024, parallelism=1)
        else:
            self._argon = _Argon2()
        self._decoy: str | None = None

    def hash(self, password: str) -> str:
        """A fresh argon2id hash of ``password``."""
        return self._argon.hash(password)

    def verify(self, stored: str | None, password: str) -> bool:
        """True when ``password`` matches ``stored``; unknown users cost the same time."""
        try:
            return self._argon.verify(stored or self._decoy_hash(), password) and stored is not None
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    def _decoy_hash(self) -> str:
        # Made on first need, not at start-up: it costs as much as one real hash.
        if self._decoy is None:
            self._decoy = self._argon.hash("gongshu-no-such-user")
        return self._decoy

    def needs_rehash(self, stored: str) -> bool:
        """True when the stored hash uses weaker parameters than today's."""
        return self._argon.check_needs_rehash(stored)
