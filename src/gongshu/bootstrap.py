"""The one composition root: ``build(settings)`` wires every part, for API, web, CLI and tests."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

from sqlalchemy.engine import Engine
from sqlalchemy.orm import sessionmaker

from gongshu.datastore.lake import Lake
from gongshu.datastore.service import DatasetVersionStored, Datastore
from gongshu.identity.passwords import PasswordHasher
from gongshu.identity.service import LoginPolicy
from gongshu.kernel.clock import Clock, SystemClock
from gongshu.kernel.crypto import Hasher, load_or_create_signer
from gongshu.kernel.db import check_connection, make_engine, writer_engine
from gongshu.kernel.events import EventBus
from gongshu.kernel.ratelimit import RateLimiter
from gongshu.kernel.settings import Settings, load_settings
from gongshu.kernel.uow import RequestContext, UnitOfWork
from gongshu.ledger.service import LedgerKeys, anchor_audit_record
from gongshu.opendata import models as _opendata_models  # noqa: F401  (tables in the metadata)
from gongshu.quality.service import on_version_stored
from gongshu.sandbox.service import Sandbox
from gongshu.sandbox.worker import WorkerPool

if TYPE_CHECKING:
    from fastapi import FastAPI

__all__ = ["Platform", "build", "create_app"]


@dataclass
class Platform:
    """Everything a request, a command or a test needs, built once."""

    settings: Settings
    engine: Engine
    clock: Clock
    bus: EventBus = field(default_factory=EventBus)
    rate_limiter: RateLimiter = field(default_factory=RateLimiter)

    def __post_init__(self) -> None:
        self.session_factory = sessionmaker(writer_engine(self.engine), expire_on_commit=False)
        self.reader_factory = sessionmaker(self.engine, expire_on_commit=False)
        self.passwords = PasswordHasher(self.settings.password_hash_profile)
        self.login_policy = LoginPolicy(
            self.settings.login_max_failures, self.settings.login_window_seconds
        )

    def uow(self, context: RequestContext | None = None, *, writes: bool = True) -> UnitOfWork:
        """A fresh unit of work: ``with platform.uow() as uow: … uow.commit()``.

        ``writes=False`` (safe HTTP methods) reads without taking SQLite's write lock.
        """
        return UnitOfWork(
            self.session_factory if writes else self.reader_factory,
            clock=self.clock,
            bus=self.bus,
            context=context,
            writes=writes,
            aside_factory=self.session_factory,
            audit_hooks=self._audit_hooks,
        )

    @cached_property
    def _audit_hooks(self) -> tuple[Callable[[UnitOfWork, Any], None], ...]:
        return (anchor_audit_record(self.ledger_keys),)

    def check_database(self) -> None:
        """Raise one clear error when the database cannot be reached."""
        check_connection(self.engine)

    @cached_property
    def ledger_keys(self) -> LedgerKeys:
        """The ledger's hash and checkpoint signers, from the keys under the data home."""
        settings = self.settings
        signers = [
            ("gongshu", load_or_create_signer(settings.keys_dir, settings.signature_algorithm))
        ]
        if settings.ledger_witness:
            signers.append(
                (
                    "witness",
                    load_or_create_signer(
                        settings.keys_dir / "witness", settings.signature_algorithm
                    ),
                )
            )
        return LedgerKeys(Hasher(settings.hash_algorithm), settings.ledger_origin, tuple(signers))

    @cached_property
    def datastore(self) -> Datastore:
        """The lake and DuckDB limits that ingest and quality work with."""
        threads = self.settings.duckdb_threads or os.cpu_count() or 1
        return Datastore(
            uow=self.uow,
            lake=Lake(self.settings.lake_dir),
            memory_limit=self.settings.duckdb_memory_limit,
            threads=threads,
        )

    @cached_property
    def sandbox(self) -> Sandbox:
        """Guarded queries in worker processes (started on first use, stopped by dispose)."""
        settings = self.settings
        return Sandbox(
            uow=self.uow,
            store=self.datastore,
            pool=WorkerPool(settings.sandbox_workers),
            timeout_seconds=settings.sandbox_timeout_seconds,
            memory_limit=settings.sandbox_memory_limit,
            threads=settings.sandbox_threads,
        )

    @cached_property
    def app(self) -> FastAPI:
        """The HTTP application: API, web pages and health check."""
        from gongshu.api.app import create_api
        from gongshu.web.app import mount_web

        app = create_api(self)
        mount_web(app, self)
        # A server start is the "next start" after a crash: scratch files of dead processes go.
        self.datastore.lake.clean_scratch()
        return app

    def dispose(self) -> None:
        """Close pooled connections and stop sandbox workers."""
        if "sandbox" in self.__dict__:
            self.sandbox.pool.close()
        self.engine.dispose()


def build(settings: Settings | None = None, *, clock: Clock | None = None) -> Platform:
    """Wire the platform from settings (read from the environment when not given)."""
    settings = settings or load_settings()
    settings.home.mkdir(parents=True, exist_ok=True)
    engine = make_engine(settings.resolved_database_url)
    platform = Platform(settings=settings, engine=engine, clock=clock or SystemClock())
    # Each stored version is assessed as soon as it is visible.
    platform.bus.subscribe(DatasetVersionStored, on_version_stored(platform.datastore))
    return platform


def create_app() -> FastAPI:
    """Factory for ``uvicorn --factory gongshu.bootstrap:create_app``."""
    return build().app
