"""The demo city's sandbox: the operator persona's grants over the population register and the
school enrolment copy, a DP grant with its budget, and 市公安局's shared model."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from gongshu.datastore.service import Datastore
from gongshu.demo.citydata import City
from gongshu.identity import grants as grant_service
from gongshu.identity.authz import Actor
from gongshu.identity.models import DeliveryMode, ReleasePolicy, Role
from gongshu.identity.schemas import GrantCreate, SandboxParams
from gongshu.kernel.uow import UnitOfWork
from gongshu.sandbox import shared_models
from gongshu.sandbox.schemas import ModelCreate, ParamIn

__all__ = ["SandboxDemo", "load_sandbox_demo"]

EDUCATION = ["初中", "高中", "中等专科", "大学专科", "大学本科", "硕士研究生"]
MARRIAGE = ["已婚", "未婚", "离婚", "丧偶"]
# Categorical quasi-identifiers with a published code list may be grouped on as they are.
DOMAINS: dict[str, list[str | int | float | bool]] = {
    "性别": ["男", "女"],
    "学历": list(EDUCATION),
    "婚姻状况": list(MARRIAGE),
    "民族": ["汉族", "满族", "回族", "蒙古族"],
}
MODEL_SQL = (
    'SELECT 学历, count(*) AS 人数 FROM "{code}" WHERE 性别 = $sex GROUP BY 学历 ORDER BY 学历'
)


@dataclass(frozen=True)
class SandboxDemo:
    """What the demo made: grant ids by purpose and the model's id."""

    grants: dict[str, str]
    model_id: str


def load_sandbox_demo(
    uow_factory: Callable[[], UnitOfWork],
    store: Datastore,
    *,
    admin: Actor,
    city: City,
    police: Actor,
    entries: dict[str, str],
    codes: dict[str, str],
) -> SandboxDemo:
    """Grant the operator persona sandbox access and publish a shared model."""
    population, enrolment = entries["population"], entries["enrolment"]
    persona = next(p for p in city.personas if p.role == Role.OPERATOR.value)
    operator = persona.organisation_code or ""
    with uow_factory() as uow:
        year = uow.clock.now() + timedelta(days=365)
        base = {"subject_organisation_code": operator, "fields": ["*"], "valid_until": year,
                "delivery_modes": [DeliveryMode.SANDBOX]}  # fmt: skip
        specs = {
            "population": GrantCreate(
                **base,
                entry_ref=population,
                min_group_size=10,
                release_policy=ReleasePolicy.AGGREGATE,
                policy_params=SandboxParams(domains=DOMAINS),
                purpose="人口结构统计分析（原始数据不出域，仅导出不少于10人的汇总结果）",
            ),
            "enrolment": GrantCreate(
                **base,
                entry_ref=enrolment,
                min_group_size=10,
                release_policy=ReleasePolicy.AGGREGATE,
                purpose="入学需求与人口结构联合分析",
            ),
            "dp": GrantCreate(
                **base,
                entry_ref=population,
                dp_epsilon_budget=3.0,
                release_policy=ReleasePolicy.DP,
                purpose="人口学历分布差分隐私发布",
                policy_params=SandboxParams(domains=DOMAINS, epsilon_per_query=0.5),
            ),
        }
        made = {
            name: grant_service.create_grant(uow, actor=admin, data=spec).id
            for name, spec in specs.items()
        }
    with uow_factory() as uow:
        model = shared_models.publish_model(
            uow, store, actor=police,
            data=ModelCreate(
                name="population_by_education", title="按学历统计常住人口",
                description="按性别筛选，统计各学历层次的常住人口数；不足10人的分组不予发布。",
                sql=MODEL_SQL.format(code=codes["population"]),
                params=[ParamIn(name="sex", type="string", label="性别", choices=["男", "女"])],
                release_policy=ReleasePolicy.AGGREGATE, min_group_size=10,
                policy_params=SandboxParams(domains=DOMAINS),
            ),
        )  # fmt: skip
        uow.commit()
    with uow_factory() as uow:
        made["model"] = grant_service.create_grant(
            uow, actor=admin,
            data=GrantCreate(
                **base, entry_ref=shared_models.model_ref(model.id),
                release_policy=ReleasePolicy.AGGREGATE, min_group_size=10,
                purpose="通过共享模型获取学历结构统计",
            ),
        ).id  # fmt: skip
    return SandboxDemo(made, model.id)
