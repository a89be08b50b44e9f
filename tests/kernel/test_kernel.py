"""Settings, errors, ids, clock, money, pagination, unit of work and events."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from pydantic import ValidationError

from gongshu.bootstrap import Platform
from gongshu.kernel.audit import AuditRecord, record
from gongshu.kernel.clock import FixedClock, local_date
from gongshu.kernel.errors import GongshuError, InvalidInput, MalformedRequest, NotFound
from gongshu.kernel.events import Event
from gongshu.kernel.ids import new_id
from gongshu.kernel.money import format_yuan, parse_yuan
from gongshu.kernel.pagination import decode_cursor, encode_cursor, paginate
from gongshu.kernel.settings import DEVELOPMENT_SECRET, Settings


def test_production_refuses_the_development_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GONGSHU_ENV", "production")
    with pytest.raises(ValidationError, match="GONGSHU_SECRET_KEY"):
        Settings()
    monkeypatch.setenv("GONGSHU_ENV", "test")
    with pytest.raises(ValidationError, match="GONGSHU_SECRET_KEY"):
        Settings()
    monkeypatch.setenv("GONGSHU_SECRET_KEY", "x" * 40)
    assert Settings().secret_key.get_secret_value() == "x" * 40
    monkeypatch.setenv("GONGSHU_ENV", "production")
    monkeypatch.setenv("GONGSHU_SECRET_KEY", "short")
    with pytest.raises(ValidationError, match="32 characters"):
        Settings()


def test_development_accepts_the_default_and_reads_the_prefix(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("GONGSHU_PORT", "9001")
    settings = Settings()
    assert settings.port == 9001
    assert settings.secret_key.get_secret_value() == DEVELOPMENT_SECRET
    assert settings.resolved_database_url.startswith("sqlite:///")


def test_errors_carry_stable_codes_and_statuses() -> None:
    assert (NotFound("x").code, NotFound("x").status) == ("not_found", 404)
    bad = InvalidInput.field("body.name", "too short")
    assert bad.status == 422
    assert bad.details == [{"path": "body.name", "message": "too short"}]
    assert MalformedRequest("x").status == 400
    assert issubclass(MalformedRequest, GongshuError)


def test_ids_are_prefixed_unique_and_time_ordered() -> None:
    first = new_id("usr", at_ms=1_000)
    second = new_id("usr", at_ms=2_000)
    assert first.startswith("usr_") and len(first) == 30
    assert first < second
    many = [new_id("x") for _ in range(1000)]
    assert len(set(many)) == 1000
    assert many == sorted(many)  # strictly increasing within one millisecond too
    frozen = [new_id("x", at_ms=5) for _ in range(10)]
    assert frozen == sorted(frozen)  # and under a frozen clock


def test_fixed_clock_moves_only_when_told() -> None:
    clock = FixedClock(datetime(2026, 1, 1, 15, 59, tzinfo=UTC))
    assert clock.now() == clock.now()
    assert local_date(clock.now()).isoformat() == "2026-01-01"
    clock.advance(minutes=2)  # 16:01 UTC is past midnight in Beijing
    assert local_date(clock.now()).isoformat() == "2026-01-02"


@pytest.mark.parametrize(
    ("text", "fen"),
    [("12.34", 1234), ("１２.３４", 1234), ("¥1,200", 120000), ("0", 0), ("-3.5", -350)],
)
def test_money_parses_yuan_into_fen(text: str, fen: int) -> None:
    assert parse_yuan(text) == fen


def test_money_refuses_sub_fen_and_garbage() -> None:
    with pytest.raises(InvalidInput, match="fen"):
        parse_yuan("0.001", field="price")
    with pytest.raises(InvalidInput, match="price"):
        parse_yuan("abc", field="price")
    assert format_yuan(123456) == "1,234.56"
    assert format_yuan(-5) == "-0.05"


def test_cursors_round_trip_and_refuse_tampering() -> None:
    cursor = encode_cursor(["海淀", 3])
    assert decode_cursor(cursor, arity=2) == ["海淀", 3]
    with pytest.raises(MalformedRequest):
        decode_cursor("not-a-cursor!!", arity=2)
    with pytest.raises(MalformedRequest):
        decode_cursor(cursor, arity=1)
    page = paginate([1, 2, 3], 2, lambda n: [n])
    assert page.items == [1, 2] and page.next_cursor == encode_cursor([2])
    with pytest.raises(InvalidInput, match="limit"):
        paginate([], 0, lambda n: [n])


@dataclass(frozen=True)
class Happened(Event):
    what: str


def _audit(uow: object, what: str) -> None:
    record(
        uow,
        actor_id=None,
        actor_label="test",
        actor_roles=[],
        action=what,  # type: ignore[arg-type]
        subject_type="test",
        subject_id="1",
    )


def test_unit_of_work_rolls_back_unless_committed(platform: Platform) -> None:
    seen: list[Event] = []
    platform.bus.subscribe(Happened, seen.append)
    with platform.uow() as uow:
        _audit(uow, "forgotten")
        uow.emit(Happened("forgotten"))
    with pytest.raises(RuntimeError), platform.uow() as uow:
        _audit(uow, "failed")
        uow.emit(Happened("failed"))
        raise RuntimeError("boom")
    with platform.uow() as uow:
        _audit(uow, "kept")
        uow.emit(Happened("kept"))
        assert seen == []  # nothing is published before the commit
        uow.commit()
    assert seen == [Happened("kept")]
    with platform.uow() as uow:
        actions = uow.session.scalars(sa.select(AuditRecord.action)).all()
    assert actions == ["kept"]


def test_a_failing_subscriber_does_not_undo_the_commit(platform: Platform) -> None:
    def explode(_event: Event) -> None:
        raise ValueError("subscriber bug")

    platform.bus.subscribe(Happened, explode)
    with platform.uow() as uow:
        _audit(uow, "kept")
        uow.emit(Happened("kept"))
        uow.commit()
    with platform.uow() as uow:
        assert uow.session.scalar(sa.select(sa.func.count()).select_from(AuditRecord)) == 1


def test_batched_work_runs_once_inside_the_transaction_before_commit(platform: Platform) -> None:
    flushed: list[list[str]] = []

    def flush(uow: object, items: list[str]) -> None:
        flushed.append(items)

    with platform.uow() as uow:
        uow.batch("letters", "a", flush)
        uow.batch("letters", "b", flush)
        assert flushed == []
        uow.commit()
        assert flushed == [["a", "b"]]
        uow.batch("letters", "c", flush)
        uow.rollback()
        uow.commit()
    assert flushed == [["a", "b"]]
    with platform.uow() as uow:
        uow.batch("letters", "d", flush)  # left without commit: never flushed
    assert flushed == [["a", "b"]]
