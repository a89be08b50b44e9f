"""A small open-data world for the open API tests: entries of every open type with data,
a public account with an app key, and helpers to sign up, sign in and grant."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from pydantic import SecretStr

from gongshu.bootstrap import Platform
from gongshu.catalog import service as catalog
from gongshu.datastore import service as datastore
from gongshu.identity import grants as grant_service
from gongshu.identity.authz import Actor
from gongshu.identity.models import DeliveryMode
from gongshu.identity.schemas import GrantCreate
from gongshu.opendata import accounts, keys
from gongshu.opendata.schemas import AccountCreate, AppKeyCreate
from tests.factories import HEALTH, TRANSPORT, City, actor, entry_input, publish

STOPS = [
    {"name": "站点编号", "type": "string", "description": "站点的唯一编号"},
    {"name": "站点名称", "type": "string"},
    {"name": "线路数", "type": "integer"},
    {"name": "经度", "type": "decimal"},
    {"name": "纬度", "type": "decimal"},
    {"name": "启用日期", "type": "date"},
    {"name": "更新时间", "type": "datetime"},
    {"name": "无障碍", "type": "boolean"},
    {"name": "票价", "type": "money"},
]
FIRMS = [
    {"name": "统一社会信用代码", "type": "string"},
    {"name": "企业名称", "type": "string"},
    {"name": "法定代表人", "type": "string", "flags": ["identifier"]},
    {"name": "注册资本", "type": "money"},
    {"name": "区划", "type": "string"},
]
DISTRICTS = ["110101", "110105", "110108"]
PASSWORD = "open-data-password-1"


@dataclass
class OpenWorld:
    """What an open API test works with."""

    platform: Platform
    city: City
    stops: str  # entry ids: unconditional, with data
    firms: str  # conditional, with data
    closed: str  # open type none, with data
    draft: str  # unconditional but never published
    empty: str  # unconditional, published, no data yet
    stop_rows: list[dict[str, Any]]  # as generated, in file order
    firm_rows: list[dict[str, Any]]
    citizen: Actor  # a public account
    key: str  # the citizen's app key
    key_id: str


def _stop_rows(count: int) -> list[dict[str, Any]]:
    rng = random.Random(5)
    rows = []
    for n in range(count):
        rows.append(
            {
                "站点编号": f"S{n:04d}",
                "站点名称": f"{rng.choice(['天安门', '王府井', '国贸', '西单', '中关村'])}{n}号站",
                "线路数": None if n % 17 == 3 else rng.randint(1, 12),
                "经度": round(116.2 + rng.random() / 2, 6),
                "纬度": round(39.8 + rng.random() / 3, 6),
                "启用日期": date(2020, 1, 1) + timedelta(days=rng.randint(0, 2000)),
                "更新时间": datetime(2026, 1, 1, 8, 0) + timedelta(minutes=rng.randint(0, 90000)),
                "无障碍": n % 3 == 0,
                "票价": Decimal(rng.choice(["1.00", "2.00", "2.50", "3.00"])),
            }
        )
    return rows


def _firm_rows(count: int) -> list[dict[str, Any]]:
    rng = random.Random(9)
    return [
        {
            "统一社会信用代码": f"91110000MA{n:07d}X",
            "企业名称": f"测试企业{n:03d}有限公司",
            "法定代表人": f"法人{n:03d}",
            "注册资本": Decimal(rng.randint(10, 5000) * 10000),
            "区划": DISTRICTS[n % 3],
        }
        for n in range(count)
    ]


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    return str(value)


def write_csv(path: Path, fields: list[dict[str, Any]], rows: list[dict[str, Any]]) -> Path:
    """A CSV with the fields' names as its header."""
    names = [f["name"] for f in fields]
    lines = [",".join(names)] + [",".join(_text(r[n]) for n in names) for r in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def make_entry(platform: Platform, city: City, name: str, fields: Any, **extra: Any) -> str:
    """A catalogue entry of the transport commission (or ``provider``)."""
    officer = city.health_officer if extra.get("provider") == HEALTH else city.officer
    with platform.uow() as uow:
        entry = catalog.create_entry(
            uow, actor=officer, data=entry_input(name=name, fields=fields, **extra)
        )
        uow.commit()
        return entry.id


def ingest(platform: Platform, officer: Actor, entry_id: str, path: Path) -> str:
    """Store a file as the entry's next version; returns the version id."""
    outcome = datastore.ingest_file(
        platform.datastore, actor=officer, entry_id=entry_id, path=path, filename=path.name
    )
    return outcome.version_id


def sign_up(platform: Platform, username: str) -> Actor:
    """A public account made through the service, as its actor."""
    with platform.uow() as uow:
        accounts.create_account(
            uow,
            data=AccountCreate(
                username=username,
                display_name=f"用户{username}",
                email=f"{username}@example.cn",
                password=SecretStr(PASSWORD),
            ),
            passwords=platform.passwords,
        )
        uow.commit()
    return actor(platform, username)


def issue_key(platform: Platform, holder: Actor, **limits: Any) -> tuple[str, str]:
    """A new app key for ``holder``: (raw key, key id)."""
    with platform.uow() as uow:
        key, raw = keys.create_key(uow, actor=holder, data=AppKeyCreate(name="测试应用", **limits))
        uow.commit()
        return raw, key.id


def grant_to(platform: Platform, city: City, holder: Actor, entry_id: str, **data: Any) -> str:
    """A grant to the holder's personal organisation (as an approval would issue)."""
    with platform.uow() as uow:
        org = accounts.personal_organisation(uow, holder.user_id)
        assert org is not None
        spec: dict[str, Any] = {
            "subject_organisation_code": org.code,
            "entry_ref": entry_id,
            "fields": ["企业名称", "注册资本", "区划"],
            "purpose": "企业信用分析",
            "valid_until": uow.clock.now() + timedelta(days=30),
            "delivery_modes": [DeliveryMode.API],
        } | data
        return grant_service.create_grant(uow, actor=city.admin, data=GrantCreate(**spec)).id


def sign_in(client: TestClient, username: str, password: str = PASSWORD) -> str:
    """Sign in through the login page; returns the CSRF token for API writes."""
    client.get("/login")
    csrf = client.cookies.get("gongshu_csrf")
    assert csrf
    answer = client.post(
        "/login",
        data={"username": username, "password": password, "csrf_token": csrf},
        follow_redirects=False,
    )
    assert answer.status_code == 303, answer.text
    return csrf


def build_open_world(platform: Platform, city: City, tmp_path: Path) -> OpenWorld:
    """Entries of every open type with data, a public account and its app key."""
    stop_rows, firm_rows = _stop_rows(250), _firm_rows(60)
    stops = make_entry(platform, city, "公交站点（开放测试）", STOPS)
    firms = make_entry(
        platform, city, "企业登记（开放测试）", FIRMS, provider=HEALTH,
        open_type="conditional", open_conditions="用于信用分析，需申请",
    )  # fmt: skip
    closed = make_entry(
        platform, city, "内部台账（开放测试）", STOPS, open_type="none", share_type="conditional",
        share_conditions="仅限内部",
    )  # fmt: skip
    draft = make_entry(platform, city, "草稿目录（开放测试）", STOPS)
    empty = make_entry(platform, city, "暂无数据（开放测试）", STOPS)
    for entry_id in (stops, firms, closed, empty):
        publish(platform, city, entry_id)
    ingest(platform, city.officer, stops, write_csv(tmp_path / "stops.csv", STOPS, stop_rows))
    ingest(platform, city.officer, closed, write_csv(tmp_path / "closed.csv", STOPS, stop_rows))
    ingest(platform, city.officer, draft, write_csv(tmp_path / "draft.csv", STOPS, stop_rows))
    ingest(
        platform, city.health_officer, firms, write_csv(tmp_path / "firms.csv", FIRMS, firm_rows)
    )
    citizen = sign_up(platform, "zhangsan")
    key, key_id = issue_key(platform, citizen)
    return OpenWorld(
        platform=platform, city=city, stops=stops, firms=firms, closed=closed, draft=draft,
        empty=empty, stop_rows=stop_rows, firm_rows=firm_rows, citizen=citizen, key=key,
        key_id=key_id,
    )  # fmt: skip


__all__ = [
    "FIRMS",
    "PASSWORD",
    "STOPS",
    "TRANSPORT",
    "OpenWorld",
    "build_open_world",
    "grant_to",
    "ingest",
    "issue_key",
    "make_entry",
    "sign_in",
    "sign_up",
    "write_csv",
]
