"""Public accounts: sign-up with a personal organisation, sign-in, real-name verification."""

from __future__ import annotations

import json
from pathlib import Path

import sqlalchemy as sa
from fastapi.testclient import TestClient

from gongshu.bootstrap import Platform
from gongshu.identity.models import Membership, Organisation, User
from gongshu.kernel.audit import AuditRecord
from gongshu.kernel.identifiers import make_citizen_id
from gongshu.ledger.models import LedgerEntry
from tests.factories import City
from tests.opendata.open_world import PASSWORD, build_open_world, sign_in

SIGN_UP = {
    "username": "lisi",
    "display_name": "李四",
    "email": "lisi@example.cn",
    "password": PASSWORD,
}


def _citizen_id(sequence: int = 123) -> str:
    from datetime import date

    return make_citizen_id("110105", date(1990, 5, 17), sequence)


def test_sign_up_makes_a_public_user_in_a_personal_organisation(
    client: TestClient, platform: Platform, city: City
) -> None:
    answer = client.post("/api/v1/open/accounts", json=SIGN_UP)
    assert answer.status_code == 201, answer.text
    account = answer.json()
    assert account["organisation_code"] == f"u-{account['id']}"
    assert account["real_name_verified"] is False
    with platform.uow() as uow:
        org = uow.session.get(Organisation, account["organisation_id"])
        assert org is not None and org.kind == "public"
        roles = uow.session.execute(
            sa.select(Membership.role, Membership.organisation_id).where(
                Membership.user_id == account["id"]
            )
        ).all()
        assert [tuple(r) for r in roles] == [("public", org.id)]
        user = uow.session.get(User, account["id"])
        assert user is not None and user.password_hash and PASSWORD not in user.password_hash
        record = uow.session.scalar(
            sa.select(AuditRecord).where(AuditRecord.action == "open.account.create")
        )
        assert record is not None and record.subject_id == account["id"]
        # Anchored in the public ledger, without the person's name or address.
        anchored = uow.session.scalar(
            sa.select(LedgerEntry).where(LedgerEntry.kind == "open.account.create")
        )
        assert anchored is not None
        text = json.dumps(json.loads(anchored.body), ensure_ascii=False)
        assert account["organisation_id"] in text
        assert "lisi@example.cn" not in text and "李四" not in text
    sign_in(client, "lisi")
    me = client.get("/api/v1/open/account").json()
    assert me["username"] == "lisi" and me["email"] == "lisi@example.cn"


def test_sign_up_refuses_taken_names_weak_passwords_and_bad_addresses(
    client: TestClient, city: City
) -> None:
    assert client.post("/api/v1/open/accounts", json=SIGN_UP).status_code == 201
    again = client.post("/api/v1/open/accounts", json=SIGN_UP | {"email": "b@example.cn"})
    assert (again.status_code, again.json()["error"]["code"]) == (409, "username_taken")
    taken = client.post("/api/v1/open/accounts", json=SIGN_UP | {"username": "citizen"})
    assert taken.json()["error"]["code"] == "username_taken"
    weak = client.post(
        "/api/v1/open/accounts", json=SIGN_UP | {"username": "w1", "password": "short"}
    )
    assert weak.status_code == 422
    bad = client.post(
        "/api/v1/open/accounts", json=SIGN_UP | {"username": "wangwu", "email": "not-an-address"}
    )
    assert (bad.status_code, bad.json()["error"]["details"][0]["path"]) == (422, "body.email")
    upper = client.post("/api/v1/open/accounts", json=SIGN_UP | {"username": "ZhaoLiu"})
    assert upper.status_code == 422  # usernames are lower case, as sign-in folds them


def test_sign_ups_from_one_address_are_rate_limited(client: TestClient, city: City) -> None:
    codes = [
        client.post(
            "/api/v1/open/accounts", json=SIGN_UP | {"username": f"user{n:02d}"}
        ).status_code
        for n in range(12)
    ]
    assert codes[:10] == [201] * 10 and codes[10:] == [429, 429]


def test_real_name_verification_checks_the_id_and_keeps_only_a_digest(
    client: TestClient, platform: Platform, city: City
) -> None:
    client.post("/api/v1/open/accounts", json=SIGN_UP)
    csrf = sign_in(client, "lisi")
    headers = {"X-CSRF-Token": csrf}
    good = _citizen_id()
    wrong_check = good[:17] + ("0" if good[17] != "0" else "1")
    refused = client.post(
        "/api/v1/open/account/real-name",
        json={"name": "李四", "citizen_id": wrong_check},
        headers=headers,
    )
    assert refused.status_code == 422
    error = refused.json()["error"]
    assert (
        error["code"] == "citizen_id_invalid" and error["details"][0]["path"] == "body.citizen_id"
    )
    assert error["details"][0]["type"] == "bad_check_character"
    done = client.post(
        "/api/v1/open/account/real-name", json={"name": "李四", "citizen_id": good}, headers=headers
    )
    assert done.status_code == 200 and done.json()["real_name_verified"] is True
    again = client.post(
        "/api/v1/open/account/real-name", json={"name": "李四", "citizen_id": good}, headers=headers
    )
    assert again.status_code == 409
    with platform.uow() as uow:
        audit = uow.session.scalars(
            sa.select(AuditRecord.after).where(AuditRecord.action == "open.account.real_name")
        ).all()
        ledger = [json.loads(b) for b in uow.session.scalars(sa.select(LedgerEntry.body))]
    stored = json.dumps([audit, ledger], ensure_ascii=False)
    assert "open.account.real_name" in stored
    assert good not in stored and "李四" not in stored
    assert len(audit[0]["citizen_id_digest"]) == 64  # a keyed digest, nothing else


def test_one_citizen_id_verifies_one_account(client: TestClient, city: City) -> None:
    for name in ("lisi", "wangwu"):
        client.post("/api/v1/open/accounts", json=SIGN_UP | {"username": name})
    csrf = sign_in(client, "lisi")
    first = client.post(
        "/api/v1/open/account/real-name",
        json={"name": "李四", "citizen_id": _citizen_id()},
        headers={"X-CSRF-Token": csrf},
    )
    assert first.status_code == 200
    client.cookies.clear()
    csrf = sign_in(client, "wangwu")
    # The same ID typed with a lower-case check letter or spaces is still the same ID.
    second = client.post(
        "/api/v1/open/account/real-name",
        json={"name": "王五", "citizen_id": " " + _citizen_id().lower()},
        headers={"X-CSRF-Token": csrf},
    )
    assert (second.status_code, second.json()["error"]["code"]) == (409, "real_name_taken")
    other = client.post(
        "/api/v1/open/account/real-name",
        json={"name": "王五", "citizen_id": _citizen_id(124)},
        headers={"X-CSRF-Token": csrf},
    )
    assert other.status_code == 200


def test_account_calls_need_a_signed_in_caller(client: TestClient, city: City) -> None:
    assert client.get("/api/v1/open/account").status_code == 401
    answer = client.post(
        "/api/v1/open/account/real-name", json={"name": "李四", "citizen_id": _citizen_id()}
    )
    assert answer.status_code == 401


def test_sign_up_then_key_then_rows_is_one_journey(
    client: TestClient, platform: Platform, city: City, tmp_path: Path
) -> None:
    world = build_open_world(platform, city, tmp_path)
    assert client.post("/api/v1/open/accounts", json=SIGN_UP).status_code == 201
    csrf = sign_in(client, "lisi")
    issued = client.post(
        "/api/v1/open/keys", json={"name": "我的应用"}, headers={"X-CSRF-Token": csrf}
    )
    assert issued.status_code == 201
    client.cookies.clear()  # the key alone is enough from here on
    rows = client.get(
        f"/api/v1/open/datasets/{world.stops}/rows",
        params={"_size": 2, "_fields": "站点编号"},
        headers={"X-App-Key": issued.json()["key"]},
    )
    assert rows.status_code == 200
    assert rows.json()["data"] == [{"站点编号": "S0000"}, {"站点编号": "S0001"}]
