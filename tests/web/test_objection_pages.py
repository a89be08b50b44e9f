"""The objection pages without a browser: filing, the queue, one objection's steps, statistics."""

from __future__ import annotations

import re
from datetime import date

from fastapi.testclient import TestClient

from gongshu.bootstrap import Platform
from gongshu.catalog import service as catalog
from gongshu.kernel.clock import FixedClock
from gongshu.quality import objections as svc
from tests.factories import City, entry_input, publish
from tests.quality.test_objections import CLAIM, beijing, file_objection
from tests.web.test_pages import sign_in


def make_entry(platform: Platform, city: City, name: str = "公交站点基础信息") -> str:
    with platform.uow() as uow:
        entry = catalog.create_entry(uow, actor=city.officer, data=entry_input(name=name))
        uow.commit()
        entry_id = entry.id
    publish(platform, city, entry_id)
    return entry_id


def objection_id(location: str) -> str:
    found = re.fullmatch(r"/console/objections/(obj_\w+)", location)
    assert found, location
    return found.group(1)


def test_a_department_files_from_the_form_with_a_file_and_the_provider_handles_it(
    client: TestClient, platform: Platform, city: City
) -> None:
    entry_id = make_entry(platform, city)
    csrf = sign_in(client, "health_officer")
    form = client.get("/console/objections/new", params={"entry_id": entry_id})
    assert form.status_code == 200
    assert 'data-testid="new-objection"' in form.text and "公交站点基础信息" in form.text
    assert '<option value="站点名称">' in form.text  # the entry's fields to choose from

    fields = {"csrf_token": csrf, "entry_id": entry_id, "field_name": "站点名称",
              "claim": CLAIM, "channel": "sharing", "evidence_text": "现场照片"}  # fmt: skip
    forged = client.post("/console/objections/new", data=fields | {"csrf_token": "forged"})
    assert forged.status_code == 403
    missing = client.post("/console/objections/new", data=fields | {"evidence_text": ""})
    assert missing.status_code == 422 and 'data-testid="form-error"' in missing.text
    assert CLAIM in missing.text  # what was typed stays in the form
    posted = client.post(
        "/console/objections/new", data=fields,
        files={"evidence_file": ("站牌.png", b"\x89PNG photo", "image/png")},
        follow_redirects=False,
    )  # fmt: skip
    assert posted.status_code == 303, posted.text
    oid = objection_id(posted.headers["location"])
    page = client.get(posted.headers["location"])
    assert 'data-status="raised"' in page.text and CLAIM in page.text
    assert 'data-testid="steps"' not in page.text  # the filer cannot handle it
    link = re.search(r'href="(/api/v1/objections/[^"]+/evidence/[0-9a-f]{64})"', page.text)
    assert link and client.get(link.group(1)).content == b"\x89PNG photo"
    assert "共享使用方校核申请" in page.text

    csrf = sign_in(client, "officer")
    queue = client.get("/console/objections")
    assert f'data-objection="{oid}"' in queue.text
    page = client.get(f"/console/objections/{oid}")
    assert 'data-testid="step-accept"' in page.text and 'data-testid="step-reject"' in page.text
    wrong = client.post(f"/console/objections/{oid}/answer", data={"csrf_token": csrf, "text": "x"})
    assert wrong.status_code == 409 and "is raised" in wrong.text
    accepted = client.post(
        f"/console/objections/{oid}/accept", data={"csrf_token": csrf}, follow_redirects=False
    )
    assert accepted.status_code == 303
    page = client.get(f"/console/objections/{oid}").text
    assert 'data-testid="flagged"' in page and "异议处理中" in page
    assert 'data-testid="step-verify"' in page
    assert page.count("data-step=") == 2  # raise and accept on the timeline
    blank = client.post(
        f"/console/objections/{oid}/verify",
        data={"csrf_token": csrf, "finding": "confirmed", "note": " "},
    )
    assert blank.status_code == 422 and 'data-testid="form-error"' in blank.text
    verified = client.post(
        f"/console/objections/{oid}/verify",
        data={"csrf_token": csrf, "finding": "confirmed", "note": "现场核实属实"},
        follow_redirects=False,
    )
    assert verified.status_code == 303
    assert 'data-testid="step-answer"' in client.get(f"/console/objections/{oid}").text


def test_the_public_files_and_sees_only_its_own(
    client: TestClient, platform: Platform, city: City
) -> None:
    entry_id = make_entry(platform, city)
    other = file_objection(platform, city.health_officer, entry_id)
    csrf = sign_in(client, "citizen")
    form = client.get("/console/objections/new", params={"entry_id": entry_id}).text
    assert 'name="channel"' not in form  # the public files as the public
    posted = client.post(
        "/console/objections/new",
        data={"csrf_token": csrf, "entry_id": entry_id, "claim": CLAIM,
              "evidence_url": "https://example.org/photo"},
        follow_redirects=False,
    )  # fmt: skip
    assert posted.status_code == 303
    mine = objection_id(posted.headers["location"])
    queue = client.get("/console/objections").text
    assert f'data-objection="{mine}"' in queue and f'data-objection="{other}"' not in queue
    assert 'data-testid="statistics-link"' not in queue
    assert client.get(f"/console/objections/{other}").status_code == 404
    assert client.get("/console/objections/statistics").status_code == 403


def test_the_bureau_queue_puts_escalated_ones_first_and_counts_down_working_days(
    client: TestClient, platform: Platform, city: City, clock: FixedClock
) -> None:
    entry_id = make_entry(platform, city)
    late = file_objection(platform, city.health_officer, entry_id)  # due Thursday 11-26
    clock.set(beijing(date(2026, 11, 27)))
    fresh = file_objection(platform, city.health_officer, entry_id)  # due Monday 11-30
    with platform.uow() as uow:
        assert svc.escalate_overdue(uow) == [late]
        uow.commit()
    sign_in(client, "admin")
    queue = client.get("/console/objections").text
    rows = re.findall(r'data-objection="(obj_\w+)"', queue)
    assert rows == [late, fresh]
    late_row = queue.split(f'data-objection="{late}"', 1)[1].split("</tr>", 1)[0]
    fresh_row = queue.split(f'data-objection="{fresh}"', 1)[1].split("</tr>", 1)[0]
    assert 'data-escalated="true"' in late_row and 'data-testid="overdue"' in late_row
    assert 'data-days="-1"' in late_row  # Friday is one working day past Thursday
    assert 'data-testid="days-left" data-days="1"' in fresh_row
    only_late = client.get("/console/objections", params={"overdue": "true"}).text
    assert re.findall(r'data-objection="(obj_\w+)"', only_late) == [late]
    english = client.get("/console/objections", params={"lang": "en"})
    assert english.status_code == 200


def test_statistics_draw_a_bar_per_department(
    client: TestClient, platform: Platform, city: City
) -> None:
    entry_id = make_entry(platform, city)
    for _ in range(2):
        file_objection(platform, city.health_officer, entry_id)
    sign_in(client, "admin")
    page = client.get("/console/objections/statistics")
    assert page.status_code == 200
    assert 'data-chart="objections_by_department"' in page.text and "<svg" in page.text
    bar = re.search(r'data-org="([^"]+)" data-open="(\d+)" data-overdue="(\d+)"', page.text)
    assert bar and bar.group(1) == city.orgs["transport"] and bar.group(2) == "2"
    assert 'data-testid="count-open">2<' in page.text
    assert 'href="/api/v1/objections/statistics"' in page.text  # the JSON twin
