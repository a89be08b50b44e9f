"""The catalogue entry page shows 异议处理中 while an objection on it is flagged."""

from __future__ import annotations

from fastapi.testclient import TestClient

from gongshu.bootstrap import Platform
from gongshu.catalog import service as catalog
from gongshu.quality import objections
from gongshu.quality.objections import EvidenceItem, EvidenceStore, ObjectionInput
from tests.factories import City, entry_input, publish
from tests.web.test_pages import sign_in


def test_a_flagged_objection_shows_on_the_entry_page_until_it_is_unflagged(
    platform: Platform, city: City, client: TestClient
) -> None:
    with platform.uow() as uow:
        entry = catalog.create_entry(uow, actor=city.officer, data=entry_input())
        uow.commit()
        entry_id = entry.id
    publish(platform, city, entry_id)
    sign_in(client, "officer")
    page = client.get(f"/console/catalog/{entry_id}")
    assert 'data-testid="entry-notice"' not in page.text
    assert f"/console/objections/new?entry_id={entry_id}" in page.text
    with platform.uow() as uow:
        filed = objections.raise_objection(
            uow, actor=city.health_officer,
            data=ObjectionInput(entry_id=entry_id, claim="站点位置与实际不符",
                                evidence=[EvidenceItem(kind="text", value="现场核实")]),
            store=EvidenceStore.under(platform.settings.home),
        )  # fmt: skip
        objections.accept(uow, actor=city.officer, objection_id=filed.id)
        uow.commit()
    page = client.get(f"/console/catalog/{entry_id}")
    assert 'data-testid="entry-notice">异议处理中<' in page.text
