"""The catalogue's controlled vocabularies: one code per value, the Chinese label users see.

Everything that reads or writes a catalogue attribute (service, import, export, search facets,
DCAT) takes its codes and labels from here, so a label appears in exactly one place.
"""

from __future__ import annotations

from datetime import timedelta
from enum import StrEnum

__all__ = [
    "COLUMNS",
    "DELIVERY_LABELS",
    "FLAG_LABELS",
    "FORMAT_LABELS",
    "FREQUENCY_INTERVALS",
    "FREQUENCY_LABELS",
    "GRADE_LABELS",
    "HARM_LABELS",
    "IMPACT_LABELS",
    "KIND_LABELS",
    "OPEN_LABELS",
    "SHARE_LABELS",
    "STATUS_LABELS",
    "THEMES",
    "TYPE_LABELS",
    "Column",
    "DataFormat",
    "EntryKind",
    "EntryStatus",
    "FieldFlag",
    "FieldType",
    "Grade",
    "Harm",
    "ImpactObject",
    "OpenType",
    "ShareType",
    "UpdateFrequency",
    "grade_for",
    "label_lookup",
]


class EntryKind(StrEnum):
    """A data resource (数据资源) or an operator's product or service (产品和服务)."""

    RESOURCE = "resource"
    PRODUCT = "product"
    SERVICE = "service"


class EntryStatus(StrEnum):
    """draft → submitted → reviewed → published → deprecated (and back to draft when returned)."""

    DRAFT = "draft"
    SUBMITTED = "submitted"
    REVIEWED = "reviewed"
    PUBLISHED = "published"
    DEPRECATED = "deprecated"


class ShareType(StrEnum):
    """共享属性."""

    UNCONDITIONAL = "unconditional"
    CONDITIONAL = "conditional"
    NONE = "none"


class OpenType(StrEnum):
    """开放属性."""

    UNCONDITIONAL = "unconditional"
    CONDITIONAL = "conditional"
    NONE = "none"


class UpdateFrequency(StrEnum):
    """更新频率."""

    REALTIME = "realtime"
    DAILY = "daily"
    WEEKLY = "weekly"
    MONTHLY = "monthly"
    QUARTERLY = "quarterly"
    SEMIANNUAL = "semiannual"
    ANNUAL = "annual"
    IRREGULAR = "irregular"


class DataFormat(StrEnum):
    """数据格式: how the resource is held."""

    DATABASE = "database"
    SPREADSHEET = "spreadsheet"
    CSV = "csv"
    JSON = "json"
    XML = "xml"
    API = "api"
    DOCUMENT = "document"
    IMAGE = "image"
    MEDIA = "media"
    GEO = "geo"


class FieldType(StrEnum):
    """数据项 data types (2017 catalogue guide: 字符型 C, 数值型 N, 货币型 Y, 日期型 D, …)."""

    STRING = "string"
    INTEGER = "integer"
    DECIMAL = "decimal"
    MONEY = "money"
    DATE = "date"
    DATETIME = "datetime"
    BOOLEAN = "boolean"
    BINARY = "binary"


class FieldFlag(StrEnum):
    """Privacy flags on a field: the sandbox and open data act on these."""

    IDENTIFIER = "identifier"
    QUASI_IDENTIFIER = "quasi_identifier"
    SENSITIVE = "sensitive"


class Grade(StrEnum):
    """GB/T 43697-2024 levels, highest first."""

    CORE = "core"
    IMPORTANT = "important"
    GENERAL_4 = "general-4"
    GENERAL_3 = "general-3"
    GENERAL_2 = "general-2"
    GENERAL_1 = "general-1"

    @property
    def rank(self) -> int:
        """6 (core) … 1 (general-1), as the government draft numbers them."""
        return 6 - list(Grade).index(self)


class ImpactObject(StrEnum):
    """影响对象 in the GB/T 43697 grading table."""

    NATIONAL_SECURITY = "national_security"
    PUBLIC_INTEREST = "public_interest"
    RIGHTS = "rights"


class Harm(StrEnum):
    """影响程度."""

    ESPECIALLY_SERIOUS = "especially_serious"
    SERIOUS = "serious"
    GENERAL = "general"
    NONE = "none"


# GB/T 43697 table; organisation/personal rights split general into 4 … 1 by harm.
_GRADE_TABLE: dict[ImpactObject, dict[Harm, Grade]] = {
    ImpactObject.NATIONAL_SECURITY: {
        Harm.ESPECIALLY_SERIOUS: Grade.CORE,
        Harm.SERIOUS: Grade.CORE,
        Harm.GENERAL: Grade.IMPORTANT,
        Harm.NONE: Grade.GENERAL_1,
    },
    ImpactObject.PUBLIC_INTEREST: {
        Harm.ESPECIALLY_SERIOUS: Grade.CORE,
        Harm.SERIOUS: Grade.IMPORTANT,
        Harm.GENERAL: Grade.GENERAL_4,
        Harm.NONE: Grade.GENERAL_1,
    },
    ImpactObject.RIGHTS: {
        Harm.ESPECIALLY_SERIOUS: Grade.GENERAL_4,
        Harm.SERIOUS: Grade.GENERAL_3,
        Harm.GENERAL: Grade.GENERAL_2,
        Harm.NONE: Grade.GENERAL_1,
    },
}


def grade_for(assessment: dict[ImpactObject, Harm]) -> Grade:
    """The grade an impact assessment implies: the highest over impact objects (就高从严)."""
    grades = [_GRADE_TABLE[obj][harm] for obj, harm in assessment.items()]
    return max(grades, key=lambda grade: grade.rank, default=Grade.GENERAL_1)


KIND_LABELS = {EntryKind.RESOURCE: "数据资源", EntryKind.PRODUCT: "数据产品",
               EntryKind.SERVICE: "数据服务"}  # fmt: skip
STATUS_LABELS = {
    EntryStatus.DRAFT: "草稿",
    EntryStatus.SUBMITTED: "待审核",
    EntryStatus.REVIEWED: "已审核",
    EntryStatus.PUBLISHED: "已发布",
    EntryStatus.DEPRECATED: "已废止",
}
SHARE_LABELS = {ShareType.UNCONDITIONAL: "无条件共享", ShareType.CONDITIONAL: "有条件共享",
                ShareType.NONE: "不予共享"}  # fmt: skip
OPEN_LABELS = {OpenType.UNCONDITIONAL: "无条件开放", OpenType.CONDITIONAL: "有条件开放",
               OpenType.NONE: "不予开放"}  # fmt: skip
DELIVERY_LABELS = {"api": "接口服务", "batch": "批量交换", "file": "文件下载", "sandbox": "沙箱"}
FREQUENCY_LABELS = {
    UpdateFrequency.REALTIME: "实时",
    UpdateFrequency.DAILY: "每日",
    UpdateFrequency.WEEKLY: "每周",
    UpdateFrequency.MONTHLY: "每月",
    UpdateFrequency.QUARTERLY: "每季度",
    UpdateFrequency.SEMIANNUAL: "每半年",
    UpdateFrequency.ANNUAL: "每年",
    UpdateFrequency.IRREGULAR: "不定期",
}
# How long after its last update an entry of each frequency becomes overdue (None: never).
FREQUENCY_INTERVALS: dict[UpdateFrequency, timedelta | None] = {
    UpdateFrequency.REALTIME: timedelta(days=1),
    UpdateFrequency.DAILY: timedelta(days=1),
    UpdateFrequency.WEEKLY: timedelta(days=7),
    UpdateFrequency.MONTHLY: timedelta(days=31),
    UpdateFrequency.QUARTERLY: timedelta(days=92),
    UpdateFrequency.SEMIANNUAL: timedelta(days=183),
    UpdateFrequency.ANNUAL: timedelta(days=366),
    UpdateFrequency.IRREGULAR: None,
}
FORMAT_LABELS = {
    DataFormat.DATABASE: "数据库",
    DataFormat.SPREADSHEET: "电子表格",
    DataFormat.CSV: "CSV",
    DataFormat.JSON: "JSON",
    DataFormat.XML: "XML",
    DataFormat.API: "接口",
    DataFormat.DOCUMENT: "文档",
    DataFormat.IMAGE: "图片",
    DataFormat.MEDIA: "音视频",
    DataFormat.GEO: "地理空间",
}
TYPE_LABELS = {
    FieldType.STRING: "字符型",
    FieldType.INTEGER: "整数型",
    FieldType.DECIMAL: "数值型",
    FieldType.MONEY: "货币型",
    FieldType.DATE: "日期型",
    FieldType.DATETIME: "日期时间型",
    FieldType.BOOLEAN: "布尔型",
    FieldType.BINARY: "二进制",
}
FLAG_LABELS = {FieldFlag.IDENTIFIER: "个人标识", FieldFlag.QUASI_IDENTIFIER: "准标识",
               FieldFlag.SENSITIVE: "敏感"}  # fmt: skip
GRADE_LABELS = {
    Grade.CORE: "核心数据",
    Grade.IMPORTANT: "重要数据",
    Grade.GENERAL_4: "一般数据4级",
    Grade.GENERAL_3: "一般数据3级",
    Grade.GENERAL_2: "一般数据2级",
    Grade.GENERAL_1: "一般数据1级",
}
IMPACT_LABELS = {ImpactObject.NATIONAL_SECURITY: "国家安全",
                 ImpactObject.PUBLIC_INTEREST: "经济社会公共利益",
                 ImpactObject.RIGHTS: "组织个人权益"}  # fmt: skip
HARM_LABELS = {Harm.ESPECIALLY_SERIOUS: "特别严重", Harm.SERIOUS: "严重", Harm.GENERAL: "一般",
               Harm.NONE: "无"}  # fmt: skip

# Domain themes (分类): the two-digit code is the resource code's "item" part.
THEMES: dict[str, tuple[str, str]] = {
    "01": ("综合政务", "General administration"),
    "02": ("经济发展", "Economy"),
    "03": ("市场监管", "Market regulation"),
    "04": ("交通出行", "Transport"),
    "05": ("医疗卫生", "Health"),
    "06": ("教育科技", "Education and science"),
    "07": ("生态环境", "Environment"),
    "08": ("文化旅游", "Culture and tourism"),
    "09": ("公共安全", "Public security"),
    "10": ("城建住房", "Urban construction and housing"),
    "11": ("社会保障", "Social security"),
    "12": ("民政服务", "Civil affairs"),
    "13": ("资源能源", "Resources and utilities"),
    "14": ("农业农村", "Agriculture and rural affairs"),
    "15": ("信用服务", "Credit"),
    "16": ("财税金融", "Finance and tax"),
    "17": ("气象服务", "Weather"),
    "18": ("城市管理", "Urban management"),
}


class Column(StrEnum):
    """The exchange columns (import/export/template), keyed in code, headed in Chinese."""

    NAME = "目录名称"
    KIND = "目录类型"
    SUMMARY = "摘要"
    KEYWORDS = "关键词"
    PROVIDER = "提供单位"
    DISTRICT = "所属区"
    FIELDS = "数据项"
    FORMAT = "数据格式"
    FREQUENCY = "更新频率"
    SHARE_TYPE = "共享属性"
    SHARE_CONDITIONS = "共享条件"
    DELIVERY = "共享方式"
    LEGAL_BASIS = "不予共享依据"
    OPEN_TYPE = "开放属性"
    OPEN_CONDITIONS = "开放条件"
    THEME = "分类"
    IMPACT = "影响评估"
    GRADE = "分级"
    GRADE_REASON = "定级理由"
    RELATED = "关联目录"
    DUTY = "职责事项"
    SYSTEM = "信息系统"
    TABLE = "库表"
    RESOURCE_CODE = "资源代码"
    PUBLISHED_ON = "发布日期"
    UPDATED_ON = "更新日期"


COLUMNS: tuple[Column, ...] = tuple(Column)


def label_lookup(labels: dict[str, str]) -> dict[str, str]:
    """Map both codes and labels (full-width tolerant, case-folded) to codes."""
    table: dict[str, str] = {}
    for code, label in labels.items():
        table[str(code).casefold()] = str(code)
        table[label.casefold()] = str(code)
    return table
