"""Typed settings, read from ``GONGSHU_*`` environment variables.

Nothing here runs at import time: :func:`load_settings` is called by the composition root.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["DEVELOPMENT_SECRET", "Settings", "load_settings"]

DEVELOPMENT_SECRET = "development-only-secret-change-me"

Environment = Literal["development", "test", "production"]


class Settings(BaseSettings):
    """Every knob of the platform; defaults fit the embedded single-machine set-up."""

    model_config = SettingsConfigDict(env_prefix="GONGSHU_", extra="ignore")

    env: Environment = "development"
    home: Path = Path("var")
    database_url: str | None = None
    secret_key: SecretStr = SecretStr(DEVELOPMENT_SECRET)
    host: str = "127.0.0.1"
    port: int = 8000
    base_url: str | None = None

    default_language: Literal["zh", "en"] = "zh"
    max_body_bytes: int = Field(default=1_048_576, ge=1024)
    max_upload_bytes: int = Field(default=64 * 1_048_576, ge=1024)
    # Dataset files (ingest): resumable uploads and `gongshu ingest` up to this size.
    max_dataset_bytes: int = Field(default=16 * 1_073_741_824, ge=1024)
    upload_chunk_bytes: int = Field(default=8 * 1_048_576, ge=65_536)
    # DuckDB for the platform's own data work: memory it may hold (it spills beyond) and threads
    # (0: one per core).
    duckdb_memory_limit: str = Field(default="1200MB", pattern=r"^\d+(\.\d+)?\s*(KB|MB|GB)$")
    duckdb_threads: int = Field(default=0, ge=0, le=256)
    # The sandbox: worker processes kept ready, and what one query may use before it is killed.
    sandbox_workers: int = Field(default=2, ge=1, le=64)
    sandbox_timeout_seconds: float = Field(default=30.0, gt=0, le=3600)
    sandbox_memory_limit: str = Field(default="1GB", pattern=r"^\d+(\.\d+)?\s*(KB|MB|GB)$")
    sandbox_threads: int = Field(default=2, ge=1, le=256)
    # Open data (开放数据接诉即办): working days the bureau has to dispatch a data request, and
    # the department to answer it once dispatched. RULES.md "Opening" (Beijing 12345 practice,
    # DB11/T 2021—2022): dispatch promptly, complex matters answered within 15 days — figures
    # seen in one copy only, so settings.
    open_request_dispatch_working_days: int = Field(default=1, ge=1, le=60)
    open_request_answer_working_days: int = Field(default=15, ge=1, le=120)
    # Conditional opening (有条件开放): the provider decides an application within 10 working
    # days, as a conditional share request (政务数据共享条例 Art. 20–29, RULES.md "Sharing").
    open_application_working_days: int = Field(default=10, ge=1, le=120)
    session_max_age_seconds: int = Field(default=8 * 3600, ge=60)
    login_max_failures: int = Field(default=5, ge=1)
    login_window_seconds: int = Field(default=900, ge=1)
    token_rate_limit_per_minute: int = Field(default=600, ge=1)
    token_default_days: int = Field(default=90, ge=1)
    # "fast" exists for the test suite and the demo benchmark; production keeps "strong".
    password_hash_profile: Literal["strong", "fast"] = "strong"

    hash_algorithm: Literal["sm3", "sha256"] = "sm3"
    signature_algorithm: Literal["sm2", "ed25519"] = "sm2"
    encryption_algorithm: Literal["sm4-gcm", "aes-256-gcm"] = "sm4-gcm"
    ledger_origin: str = Field(default="gongshu.local/ledger", min_length=1, max_length=200)
    # A second key under keys/witness co-signs every checkpoint (a local witness).
    ledger_witness: bool = False

    @model_validator(mode="after")
    def _refuse_default_secret(self) -> Settings:
        if self.env != "development" and self.secret_key.get_secret_value() == DEVELOPMENT_SECRET:
            raise ValueError(
                "GONGSHU_SECRET_KEY must be set outside development "
                "(the development secret is public)"
            )
        if self.env == "production" and len(self.secret_key.get_secret_value()) < 32:
            raise ValueError("GONGSHU_SECRET_KEY must be at least 32 characters in production")
        return self

    @property
    def resolved_database_url(self) -> str:
        """The database URL; the embedded default is a SQLite file under the data home."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.home / 'gongshu.db').resolve()}"

    @property
    def lake_dir(self) -> Path:
        """Where dataset files live, each under its content hash."""
        return self.home / "lake"

    @property
    def keys_dir(self) -> Path:
        """Where signing and encryption keys live."""
        return self.home / "keys"

    @property
    def public_url(self) -> str:
        """The address people type to reach the platform."""
        return self.base_url or f"http://{self.host}:{self.port}"


def load_settings(**overrides: object) -> Settings:
    """Read settings from the environment, with explicit overrides winning."""
    return Settings(**overrides)  # type: ignore[arg-type]
