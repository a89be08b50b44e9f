"""Many requests at once on one database: readers stay readers, writers wait their turn."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import sqlalchemy as sa

from gongshu.bootstrap import Platform
from gongshu.identity import tokens
from gongshu.identity.models import ApiToken
from gongshu.identity.schemas import TokenCreate
from tests.factories import actor, build_city


def test_concurrent_first_use_of_a_token_and_concurrent_writes(platform: Platform) -> None:
    build_city(platform)
    officer = actor(platform, "officer")
    with platform.uow() as uow:
        token, raw = tokens.create_token(uow, actor=officer, data=TokenCreate(name="shared"))

    started = threading.Barrier(16)

    def read(_: int) -> str:
        # A GET: the token's last use is written aside while the request only reads.
        with platform.uow(writes=False) as uow:
            uow.session.execute(sa.select(ApiToken.id).limit(1))  # the read begins …
            started.wait(timeout=10)  # … in every reader before any of them writes
            return tokens.authenticate_token(uow, raw).username

    def write(n: int) -> str:
        # A POST: its own transaction takes the write lock and waits for it.
        with platform.uow() as uow:
            made, _raw = tokens.create_token(uow, actor=officer, data=TokenCreate(name=f"w{n}"))
            return made.name

    with ThreadPoolExecutor(max_workers=16) as pool:
        readers = [pool.submit(read, n) for n in range(16)]
        assert {f.result() for f in readers} == {"officer"}
        readers = [pool.submit(read, n) for n in range(16)]
        writers = [pool.submit(write, n) for n in range(16)]
        assert {f.result() for f in readers} == {"officer"}
        assert sorted(f.result() for f in writers) == sorted(f"w{n}" for n in range(16))
    with platform.uow() as uow:
        stored = uow.session.get(ApiToken, token.id)
        assert stored is not None and stored.last_used_at == platform.clock.now()
