"""The annual open plan: kept by the bureau, opened-ness read from the catalogue, progress per
quarter and department, public reads without 不予开放 entries."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from fastapi.testclient import TestClient

from gongshu.bootstrap import Platform
from gongshu.catalog import service as catalog
from gongshu.kernel.clock import FixedClock, local_date
from gongshu.kernel.errors import InvalidInput, PermissionDenied
from gongshu.opendata import plan as svc
from gongshu.opendata.errors_engagement import DuplicatePlanItem, PlanItemNotFound
from gongshu.opendata.schemas_engagement import PlanItemInput, PlanItemRead, PlanItemUpdate
from tests.factories import HEALTH, City, auth, entry_input, publish, token_for
from tests.opendata.test_requests import make_entry, run

YEAR = 2026


def add(platform: Platform, city: City, entry_id: str, quarter: int, open_type: str) -> str:
    data = PlanItemInput(year=YEAR, quarter=quarter, entry_id=entry_id, open_type=open_type)  # type: ignore[arg-type]
    return str(run(platform, svc.add_item, actor=city.admin, data=data).id)


def lines(platform: Platform, who: Any) -> dict[str, PlanItemRead]:
    """The year's lines as ``who`` sees them, by entry id."""
    with platform.uow() as uow:
        items = svc.list_items(uow, actor=who, year=YEAR).items
        today = local_date(uow.clock.now())
        return {line.entry_id: line for line in svc.describe(uow, items, today=today)}


def reopen(platform: Platform, city: City, entry_id: str, **changes: Any) -> None:
    """Edit the entry's working copy as its department and publish it again."""
    with platform.uow() as uow:
        entry = catalog.get_entry(uow, actor=city.officer, entry_id=entry_id)
        name = entry.name
    fields = [
        {"name": "企业名称", "type": "string"},
        {"name": "统一社会信用代码", "type": "string"},
    ]
    with platform.uow() as uow:
        catalog.update_entry(
            uow, actor=city.officer, entry_id=entry_id,
            data=entry_input(name=name, fields=fields, **changes),
        )  # fmt: skip
    publish(platform, city, entry_id)


@pytest.fixture
def world(platform: Platform, city: City, clock: FixedClock) -> dict[str, str]:
    """Four planned entries in four situations, published on 2026-11-25."""
    return {
        # published unconditional, planned unconditional in Q4: opened on time
        "opened": make_entry(platform, city, name="公交站点"),
        # not yet published, planned conditional in Q3: overdue
        "draft": make_entry(platform, city, name="出租车运营", open_type="conditional",
                            publish_it=False),
        # published conditional, planned unconditional in Q4: not met yet
        "upgrade": make_entry(platform, city, name="企业登记", open_type="conditional"),
        # the health commission's, unconditional, planned conditional in Q1: opened late
        "health": make_entry(platform, city, name="医疗机构", provider=HEALTH),
    }  # fmt: skip


def test_the_plan_reads_opening_from_the_catalogue_and_counts_progress(
    platform: Platform, city: City, clock: FixedClock, world: dict[str, str]
) -> None:
    add(platform, city, world["opened"], 4, "unconditional")
    add(platform, city, world["draft"], 3, "conditional")
    upgrade = add(platform, city, world["upgrade"], 4, "unconditional")
    add(platform, city, world["health"], 1, "conditional")

    seen = lines(platform, None)
    assert (seen[world["opened"]].opened, seen[world["opened"]].on_time) == (True, True)
    assert seen[world["opened"]].department_name == "市交通委"
    assert (seen[world["draft"]].opened, seen[world["draft"]].overdue) == (False, True)
    assert not seen[world["draft"]].entry_public  # the page does not link a draft
    assert (seen[world["upgrade"]].opened, seen[world["upgrade"]].overdue) == (False, False)
    assert (seen[world["health"]].opened, seen[world["health"]].on_time) == (True, False)

    # The conditional entry is opened without conditions a week later: the line is met then;
    # republishing an entry that already met its line keeps the first opening.
    published = clock.now()
    clock.advance(days=7)
    reopen(platform, city, world["upgrade"], open_type="unconditional")
    reopen(platform, city, world["opened"], summary="补充说明")
    met = lines(platform, None)[world["upgrade"]]
    assert met.opened and met.opened_at == clock.now() and met.on_time
    assert lines(platform, None)[world["opened"]].opened_at == published
    assert met.quarter_ends_on == date(2026, 12, 31)

    with platform.uow() as uow:
        progress = svc.progress(uow, actor=None, year=YEAR, today=date(2026, 12, 2))
    assert (progress.planned, progress.opened, progress.on_time, progress.overdue) == (4, 3, 2, 1)
    assert progress.opened_rate == 0.75 and progress.years == [YEAR]
    q = {p.quarter: p for p in progress.quarters}
    assert (q[1].planned, q[1].opened, q[1].on_time, q[1].cumulative_opened) == (1, 1, 0, 0)
    assert (q[3].planned, q[3].overdue, q[3].cumulative_planned) == (1, 1, 2)
    assert (q[4].planned, q[4].opened, q[4].cumulative_planned, q[4].cumulative_opened) == (
        2, 2, 4, 3,
    )  # fmt: skip
    departments = {d.name: d for d in progress.departments}
    assert (departments["市交通委"].planned, departments["市交通委"].opened) == (3, 2)
    assert departments["市卫生健康委"].opened_rate == 1.0

    # Moving the line and removing it are the bureau's.
    with pytest.raises(PermissionDenied):
        run(platform, svc.update_item, actor=city.officer, item_id=upgrade,
            data=PlanItemUpdate(quarter=1))  # fmt: skip
    moved = run(platform, svc.update_item, actor=city.admin, item_id=upgrade,
                data=PlanItemUpdate(quarter=1, note="提前"))  # fmt: skip
    assert (moved.quarter, moved.note, moved.open_type) == (1, "提前", "unconditional")
    run(platform, svc.remove_item, actor=city.admin, item_id=upgrade)
    with pytest.raises(PlanItemNotFound):
        run(platform, svc.remove_item, actor=city.admin, item_id=upgrade)
    assert world["upgrade"] not in lines(platform, None)


def test_the_plan_refuses_what_cannot_be_opened_and_hides_what_was_closed(
    platform: Platform, city: City, world: dict[str, str]
) -> None:
    closed = make_entry(platform, city, name="内部台账", open_type="none")
    with pytest.raises(InvalidInput, match="open type is none"):
        add(platform, city, closed, 2, "unconditional")
    with pytest.raises(PermissionDenied):
        run(platform, svc.add_item, actor=city.citizen,
            data=PlanItemInput(year=YEAR, quarter=1, entry_id=world["opened"],
                               open_type="conditional"))  # fmt: skip
    add(platform, city, world["opened"], 4, "unconditional")
    add(platform, city, world["upgrade"], 4, "unconditional")
    with pytest.raises(DuplicatePlanItem):
        add(platform, city, world["opened"], 2, "conditional")
    nxt = PlanItemInput(year=YEAR + 1, quarter=2, entry_id=world["opened"], open_type="conditional")
    run(platform, svc.add_item, actor=city.admin, data=nxt)  # another year is another plan

    # The department closes the entry: it disappears from every public read of the plan.
    reopen(platform, city, world["upgrade"], open_type="none")
    assert sorted(lines(platform, None)) == [world["opened"]]
    with platform.uow() as uow:
        progress = svc.progress(uow, actor=None, year=YEAR)
        assert progress.planned == 1 and progress.years == [YEAR, YEAR + 1]
        assert svc.progress(uow, actor=city.admin, year=YEAR).planned == 2
    assert sorted(lines(platform, city.admin)) == sorted([world["opened"], world["upgrade"]])


def test_the_api_reads_in_public_pages_by_quarter_and_edits_for_the_bureau(
    platform: Platform, city: City, client: TestClient, world: dict[str, str]
) -> None:
    admin = auth(token_for(platform, "admin"))
    officer = auth(token_for(platform, "officer"))
    body = {"year": YEAR, "quarter": 4, "entry_id": world["opened"], "open_type": "unconditional"}
    assert client.post("/api/v1/open/plan", json=body, headers=officer).status_code == 403
    created = client.post("/api/v1/open/plan", json=body, headers=admin)
    assert created.status_code == 201 and created.json()["opened"] is True
    for quarter, key in ((1, "health"), (3, "draft")):
        client.post("/api/v1/open/plan", headers=admin,
                    json=body | {"quarter": quarter, "entry_id": world[key],
                                 "open_type": "conditional"})  # fmt: skip
    again = client.post("/api/v1/open/plan", json=body, headers=admin)
    assert (again.status_code, again.json()["error"]["code"]) == (409, "plan_item_duplicate")
    bad = client.post("/api/v1/open/plan", json=body | {"quarter": 5}, headers=admin)
    assert bad.status_code == 422

    first = client.get("/api/v1/open/plan", params={"year": YEAR, "limit": 2}).json()
    assert [line["quarter"] for line in first["data"]] == [1, 3]
    rest = client.get(first["links"]["next"]).json()
    assert [line["entry_name"] for line in rest["data"]] == ["公交站点"]
    assert rest["data"][0]["open_type_label"] == "无条件开放"
    q3 = client.get("/api/v1/open/plan", params={"year": YEAR, "quarter": 3}).json()
    assert [line["overdue"] for line in q3["data"]] == [True]
    progress = client.get("/api/v1/open/plan/progress", params={"year": YEAR}).json()
    assert (progress["planned"], progress["opened"]) == (3, 2)
    assert [p["planned"] for p in progress["quarters"]] == [1, 0, 1, 1]
    assert client.get("/api/v1/open/plan/progress").json()["year"] == YEAR  # this year

    item = created.json()["id"]
    moved = client.patch(f"/api/v1/open/plan/{item}", json={"quarter": 2}, headers=admin)
    assert moved.json()["quarter"] == 2 and moved.json()["quarter_ends_on"] == "2026-06-30"
    assert client.delete(f"/api/v1/open/plan/{item}", headers=admin).status_code == 204
    gone = client.delete(f"/api/v1/open/plan/{item}", headers=admin)
    assert (gone.status_code, gone.json()["error"]["code"]) == (404, "plan_item_not_found")
