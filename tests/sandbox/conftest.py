"""A small sandbox world: a health register and an employment register with identifiers,
quasi-identifiers and sensitive fields, and sandbox grants of every policy.

Worker processes are shared by the whole session (starting them is the slow part); each test's
platform borrows the pool.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

from gongshu.bootstrap import Platform
from gongshu.catalog import service as catalog
from gongshu.datastore import service as datastore
from gongshu.identity import grants as grant_service
from gongshu.identity.authz import Actor
from gongshu.identity.models import DeliveryMode
from gongshu.identity.schemas import GrantCreate
from gongshu.kernel.identifiers import make_citizen_id
from gongshu.sandbox.service import Sandbox
from gongshu.sandbox.worker import WorkerPool
from tests.factories import HEALTH, OPERATOR_ORG, TRANSPORT, City, entry_input

PERSONS = [
    {"name": "公民身份号码", "type": "string", "flags": ["identifier"]},
    {"name": "姓名", "type": "string", "flags": ["identifier"]},
    {"name": "出生日期", "type": "date", "flags": ["quasi_identifier"]},
    {"name": "性别", "type": "string"},
    {"name": "区划", "type": "string"},
    {"name": "年收入", "type": "decimal", "flags": ["sensitive"]},
    {"name": "诊断", "type": "string", "flags": ["sensitive"]},
]
JOBS = [
    {"name": "公民身份号码", "type": "string", "flags": ["identifier"]},
    {"name": "单位代码", "type": "string"},
    {"name": "月工资", "type": "decimal", "flags": ["sensitive"]},
]
# District sizes: 110109 holds only three people, a group below any sensible k.
DISTRICTS = {"110101": 100, "110105": 100, "110108": 37, "110109": 3}
DIAGNOSES = ["高血压", "糖尿病", "健康", "健康", "健康"]
RARE = "罕见病甲"  # exactly one person has it
K = 5


@dataclass
class World:
    """What a sandbox test works with."""

    platform: Platform
    city: City
    sandbox: Sandbox
    persons: str  # entry ids
    jobs: str
    persons_code: str  # view names (resource codes)
    jobs_code: str
    aggregate: str  # grant ids (held by the operator)
    jobs_grant: str
    dp: str
    rows: str  # held by the health commission over its own data
    ids: list[str]  # every citizen ID in the data: none may ever leave
    names: list[str]
    rare_person: str

    @property
    def operator(self) -> Actor:
        """The operator that holds the aggregate and DP grants."""
        return self.city.operator


def _people() -> list[list[str]]:
    rng = random.Random(7)
    rows = []
    seq = 0
    for district, size in DISTRICTS.items():
        for _ in range(size):
            seq += 1
            born = date(1950, 1, 1) + timedelta(days=rng.randint(0, 365 * 55))
            citizen = make_citizen_id(district, born, seq % 1000)
            diagnosis = RARE if seq == 17 else rng.choice(DIAGNOSES)
            rows.append([citizen, f"测试人{seq:03d}", born.isoformat(), rng.choice("男女"),
                         district, str(rng.randint(20, 400) * 1000), diagnosis])  # fmt: skip
    return rows


def _csv(path: Path, fields: list[dict[str, Any]], rows: list[list[str]]) -> Path:
    lines = [",".join(f["name"] for f in fields), *(",".join(r) for r in rows)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _entry(platform: Platform, actor: Actor, provider: str, name: str, fields: Any) -> str:
    with platform.uow() as uow:
        entry = catalog.create_entry(
            uow, actor=actor,
            data=entry_input(name=name, provider=provider, fields=fields, open_type="none",
                             share_type="conditional", share_conditions="仅限沙箱内使用",
                             impact={"rights": "serious"}),
        )  # fmt: skip
        uow.commit()
        return entry.id


def _grant(platform: Platform, admin: Actor, **data: Any) -> str:
    with platform.uow() as uow:
        spec = {
            "subject_organisation_code": OPERATOR_ORG,
            "fields": ["*"],
            "purpose": "沙箱统计分析",
            "valid_until": uow.clock.now() + timedelta(days=90),
            "delivery_modes": [DeliveryMode.SANDBOX],
        } | data
        return grant_service.create_grant(uow, actor=admin, data=GrantCreate(**spec)).id


def build_world(platform: Platform, city: City, tmp_path: Path, pool: WorkerPool) -> World:
    """Entries with data, and grants of every release policy."""
    people = _people()
    persons = _entry(platform, city.health_officer, HEALTH, "居民健康档案（沙箱测试）", PERSONS)
    jobs = _entry(platform, city.officer, TRANSPORT, "从业人员登记（沙箱测试）", JOBS)
    rng = random.Random(11)
    job_rows = [[p[0], f"U{rng.randint(1, 12):03d}", str(rng.randint(5, 40) * 1000)]
                for p in people[:200] for _ in range(1 + (rng.random() < 0.3))]  # fmt: skip
    for actor, entry_id, fields, rows, name in (
        (city.health_officer, persons, PERSONS, people, "persons.csv"),
        (city.officer, jobs, JOBS, job_rows, "jobs.csv"),
    ):
        path = _csv(tmp_path / name, fields, rows)
        datastore.ingest_file(
            platform.datastore, actor=actor, entry_id=entry_id, path=path, filename=name
        )
    with platform.uow() as uow:
        codes = {e: catalog.get_entry(uow, actor=city.admin, entry_id=e).resource_code
                 for e in (persons, jobs)}  # fmt: skip
    admin = city.admin
    aggregate = _grant(platform, admin, entry_ref=persons, min_group_size=K,
                       release_policy="aggregate")  # fmt: skip
    jobs_grant = _grant(platform, admin, entry_ref=jobs, min_group_size=K,
                        release_policy="aggregate")  # fmt: skip
    dp = _grant(
        platform, admin, entry_ref=persons, release_policy="dp", dp_epsilon_budget=1.0,
        policy_params={"bounds": {"年收入": [0, 500_000]},
                       "domains": {"区划": list(DISTRICTS), "性别": ["男", "女"]},
                       "epsilon_per_query": 0.25},
    )  # fmt: skip
    rows = _grant(
        platform, admin, subject_organisation_code=HEALTH, entry_ref=persons,
        fields=["区划", "性别", "出生日期"], row_filter={"区划": ["110105"]},
        release_policy="rows", policy_params={"max_rows": 50},
    )  # fmt: skip
    sandbox = replace(platform.sandbox, pool=pool)
    return World(
        platform=platform, city=city, sandbox=sandbox, persons=persons, jobs=jobs,
        persons_code=codes[persons], jobs_code=codes[jobs], aggregate=aggregate,
        jobs_grant=jobs_grant, dp=dp, rows=rows, ids=[p[0] for p in people],
        names=[p[1] for p in people], rare_person=people[16][0],
    )  # fmt: skip


@pytest.fixture(scope="session")
def worker_pool() -> Iterator[WorkerPool]:
    """Sandbox worker processes shared by every test of the session."""
    pool = WorkerPool(2)
    yield pool
    pool.close()


@pytest.fixture
def world(platform: Platform, city: City, tmp_path: Path, worker_pool: WorkerPool) -> World:
    """The sandbox world on each database."""
    return build_world(platform, city, tmp_path, worker_pool)
