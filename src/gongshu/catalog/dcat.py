"""DCAT-AP 3 descriptions of the catalogue, in Turtle, JSON-LD and RDF/XML.

The catalogue service maps published entry versions to the plain types below; this module
knows RDF and nothing of the database. Themes, frequencies, access rights, the language and
file types use the EU controlled vocabularies, and our own codes stay alongside as concepts in
our schemes. Every class a DCAT-AP range constraint names is typed explicitly, rdfs:Resource
included: DCAT-AP's shapes check classes as stated, without inference, so a description must
carry its own typing to pass.

IRIs, all under the catalog's base URL (the routes serving them must agree):

    /catalog                     the catalog; a page of it: /catalog?page=2&page_size=20
    /catalog/{id}                an entry's public page: landing page and access URL
    /catalog/{id}#dataset        the dataset; #api, #batch, #file, #sandbox its distributions,
                                 #api-service, #sandbox-service the services behind two of them,
                                 #fields the description of its fields
    /api/v1/data/{id}            the data API endpoint      /sandbox/{id}   the sandbox
    /organisations/{id}          a publishing body (#contact: its contact point)
    /licences/{name}             our licences               /vocab/…        our concept schemes
"""

from __future__ import annotations

import math
import re
import typing
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from urllib.parse import quote

from rdflib import BNode, Graph, Literal, Namespace, URIRef
from rdflib.collection import Collection
from rdflib.namespace import OWL, RDF, RDFS, SKOS, XSD
from rdflib.term import Node

from gongshu.catalog.vocab import (
    DELIVERY_LABELS,
    FREQUENCY_LABELS,
    GRADE_LABELS,
    OPEN_LABELS,
    SHARE_LABELS,
    THEMES,
    DataFormat,
    Grade,
    OpenType,
    ShareType,
    UpdateFrequency,
)

__all__ = [
    "DcatCatalog",
    "DcatDataset",
    "DcatField",
    "RdfFormat",
    "catalog_graph",
    "dataset_graph",
    "dataset_iri",
    "serialise",
]

RdfFormat = typing.Literal["ttl", "jsonld", "rdf"]
_Code = typing.TypeVar("_Code", bound=StrEnum)

ADMS = Namespace("http://www.w3.org/ns/adms#")
CSVW = Namespace("http://www.w3.org/ns/csvw#")
DCAT = Namespace("http://www.w3.org/ns/dcat#")
DCT = Namespace("http://purl.org/dc/terms/")
FOAF = Namespace("http://xmlns.com/foaf/0.1/")
HYDRA = Namespace("http://www.w3.org/ns/hydra/core#")
VCARD = Namespace("http://www.w3.org/2006/vcard/ns#")
EU = "http://publications.europa.eu/resource/authority/"
EU_THEME = Namespace(f"{EU}data-theme/")
EU_FREQUENCY = Namespace(f"{EU}frequency/")
EU_ACCESS = Namespace(f"{EU}access-right/")
EU_FILE_TYPE = Namespace(f"{EU}file-type/")
CHINESE = URIRef(f"{EU}language/ZHO")
IANA = "https://www.iana.org/assignments/media-types/"
LOCAL_AUTHORITY = URIRef("http://purl.org/adms/publishertype/LocalAuthority")

_PREFIXES = {
    "adms": ADMS,
    "csvw": CSVW,
    "dcat": DCAT,
    "dct": DCT,
    "foaf": FOAF,
    "hydra": HYDRA,
    "owl": OWL,
    "rdf": RDF,
    "rdfs": RDFS,
    "skos": SKOS,
    "vcard": VCARD,
    "xsd": XSD,
}

# Our theme → EU data themes (several where ours straddles two).
_EU_THEMES: dict[str, tuple[str, ...]] = {
    "01": ("GOVE",), "02": ("ECON",), "03": ("ECON",), "04": ("TRAN",), "05": ("HEAL",),
    "06": ("EDUC", "TECH"), "07": ("ENVI",), "08": ("EDUC",), "09": ("JUST",),
    "10": ("REGI",), "11": ("SOCI",), "12": ("SOCI",), "13": ("ENER",), "14": ("AGRI",),
    "15": ("ECON",), "16": ("ECON",), "17": ("ENVI",), "18": ("REGI",),
}  # fmt: skip
_EU_THEME_LABELS = {
    "AGRI": ("Agriculture, fisheries, forestry and food", "农业、渔业、林业和食品"),
    "ECON": ("Economy and finance", "经济和金融"),
    "EDUC": ("Education, culture and sport", "教育、文化和体育"),
    "ENER": ("Energy", "能源"),
    "ENVI": ("Environment", "环境"),
    "GOVE": ("Government and public sector", "政府和公共部门"),
    "HEAL": ("Health", "卫生"),
    "JUST": ("Justice, legal system and public safety", "司法、法律体系和公共安全"),
    "REGI": ("Regions and cities", "地区和城市"),
    "SOCI": ("Population and society", "人口和社会"),
    "TECH": ("Science and technology", "科学和技术"),
    "TRAN": ("Transport", "交通"),
}
_EU_FREQUENCIES = {
    UpdateFrequency.REALTIME: ("UPDATE_CONT", "Continuously updated"),
    UpdateFrequency.DAILY: ("DAILY", "Daily"),
    UpdateFrequency.WEEKLY: ("WEEKLY", "Weekly"),
    UpdateFrequency.MONTHLY: ("MONTHLY", "Monthly"),
    UpdateFrequency.QUARTERLY: ("QUARTERLY", "Quarterly"),
    UpdateFrequency.SEMIANNUAL: ("ANNUAL_2", "Semiannual"),
    UpdateFrequency.ANNUAL: ("ANNUAL", "Annual"),
    UpdateFrequency.IRREGULAR: ("IRREG", "Irregular"),
}
_EU_ACCESS = {
    OpenType.UNCONDITIONAL: ("PUBLIC", "Public", "公开"),
    OpenType.CONDITIONAL: ("RESTRICTED", "Restricted", "受限"),
    OpenType.NONE: ("NON_PUBLIC", "Non-public", "非公开"),
}
# Our format → (EU file type, its label, IANA media type). Data held behind an API is served
# as JSON; images and media name the commonest container, as the EU list has no generic one.
_EU_FILE_TYPES = {
    DataFormat.DATABASE: ("SQL", "SQL", "application/sql"),
    DataFormat.SPREADSHEET: (
        "XLSX",
        "Excel XLSX",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    ),
    DataFormat.CSV: ("CSV", "CSV", "text/csv"),
    DataFormat.JSON: ("JSON", "JSON", "application/json"),
    DataFormat.XML: ("XML", "XML", "application/xml"),
    DataFormat.API: ("JSON", "JSON", "application/json"),
    DataFormat.DOCUMENT: ("PDF", "PDF", "application/pdf"),
    DataFormat.IMAGE: ("JPEG", "JPEG", "image/jpeg"),
    DataFormat.MEDIA: ("MPEG4", "MPEG-4", "video/mp4"),
    DataFormat.GEO: ("GEOJSON", "GeoJSON", "application/geo+json"),
}
# Open data is used under the platform's licences; data not opened carries none.
_LICENCES = {
    OpenType.UNCONDITIONAL: ("open-data", "公共数据无条件开放许可", "Open data licence"),
    OpenType.CONDITIONAL: (
        "conditional-open-data",
        "公共数据有条件开放使用协议",
        "Conditional open data agreement",
    ),
}
_DELIVERIES = {"api": "API", "batch": "Bulk exchange", "file": "File download",
               "sandbox": "Sandbox"}  # fmt: skip
_SERVICES = frozenset({"api", "sandbox"})
_CSVW_TYPES = {"string": "string", "integer": "integer", "decimal": "decimal",
               "money": "decimal", "date": "date", "datetime": "datetime",
               "boolean": "boolean", "binary": "binary"}  # fmt: skip
_MEDIA_TYPES = {
    "ttl": "text/turtle; charset=utf-8",
    "jsonld": "application/ld+json",
    "rdf": "application/rdf+xml",
}
_RDFLIB_FORMATS = {"ttl": "turtle", "jsonld": "json-ld", "rdf": "xml"}
# Characters XML 1.0 cannot carry: stripped so every format can hold every description.
_UNSAFE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


@dataclass(frozen=True, slots=True)
class DcatField:
    """One field (数据项) of a dataset: its name, FieldType code and description."""

    name: str
    type: str
    description: str


@dataclass(frozen=True, slots=True)
class DcatDataset:
    """One published catalog entry, as DCAT describes it."""

    id: str
    identifier: str
    title: str
    description: str
    keywords: tuple[str, ...]
    publisher_name: str
    publisher_id: str
    theme: str
    update_frequency: str
    format: str
    open_type: str
    share_type: str
    delivery: tuple[str, ...]
    grade: str
    district_name: str | None
    issued: datetime | None
    modified: datetime
    version: int
    fields: tuple[DcatField, ...]
    ledger_url: str | None
    related_ids: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class DcatCatalog:
    """One page of the public catalog and what describes the catalog itself."""

    base_url: str
    title: str
    description: str
    publisher_name: str
    publisher_id: str
    modified: datetime
    datasets: tuple[DcatDataset, ...]
    page: int
    page_size: int
    total: int

    def __post_init__(self) -> None:
        if self.page < 1 or self.page_size < 1 or self.total < 0:
            raise ValueError(f"bad page {self.page} of size {self.page_size}, total {self.total}")


def dataset_iri(base_url: str, entry_id: str) -> str:
    """The IRI naming an entry's dataset in every DCAT description."""
    return f"{_entry_page(base_url.rstrip('/'), entry_id)}#dataset"


def catalog_graph(catalog: DcatCatalog) -> Graph:
    """The catalog, one page of its datasets described in full, and Hydra links between pages."""
    writer = _Writer(catalog.base_url)
    writer.catalog(catalog)
    return writer.g


def dataset_graph(dataset: DcatDataset, *, base_url: str) -> Graph:
    """One dataset with its distributions, services, fields and the concepts they use."""
    writer = _Writer(base_url)
    writer.dataset(dataset, columns=True)
    return writer.g


def serialise(graph: Graph, fmt: RdfFormat) -> tuple[bytes, str]:
    """The graph as Turtle, JSON-LD (prefixes as its context) or RDF/XML, with its media type."""
    if fmt == "jsonld":
        # Chinese is the default language, so most strings compact to plain JSON strings.
        context = {prefix: str(ns) for prefix, ns in graph.namespaces() if prefix != "xml"}
        context["@language"] = "zh"
        body = graph.serialize(format="json-ld", context=context, encoding="utf-8")
    else:
        body = graph.serialize(format=_RDFLIB_FORMATS[fmt], encoding="utf-8")
    return body, _MEDIA_TYPES[fmt]


@dataclass(frozen=True, slots=True)
class _Entry:
    """What the distributions of one dataset share."""

    data: DcatDataset
    node: URIRef
    page: URIRef
    licence: URIRef | None
    schema: URIRef | None


class _Writer:
    """Describes resources into one graph; shared ones (agents, concepts, pages) only once."""

    def __init__(self, base_url: str) -> None:
        self.base = base_url.rstrip("/")
        self.g = Graph(bind_namespaces="none")
        for prefix, namespace in _PREFIXES.items():
            self.g.bind(prefix, namespace)
        self.g.bind("gongshu", f"{self.base}/vocab#")
        self._described: set[Node] = set()

    def catalog(self, cat: DcatCatalog) -> None:
        node = URIRef(f"{self.base}/catalog")
        self._add(node, RDF.type, DCAT.Catalog)
        self._text(node, DCT.title, cat.title)
        self._text(node, DCT.description, cat.description or cat.title)
        self._add(node, DCT.publisher, self._agent(cat.publisher_id, cat.publisher_name))
        self._add(node, DCT.modified, _when(cat.modified))
        self._add(node, DCT.language, self._language())
        self._add(node, FOAF.homepage, self._document(f"{self.base}/"))
        self._add(node, DCAT.themeTaxonomy, self._eu_theme_scheme())
        scheme = self._theme_scheme()
        self._add(node, DCAT.themeTaxonomy, scheme)
        for code in THEMES:
            self._add(scheme, SKOS.hasTopConcept, self._theme(code))
        # Fields stay out of a catalog page: they would double its size, and each dataset's own
        # description (dataset_graph) lists them.
        for dataset in cat.datasets:
            self._add(node, DCAT.dataset, self.dataset(dataset, columns=False))
        if cat.total > cat.page_size:
            self._paging(node, cat)

    def dataset(self, ds: DcatDataset, *, columns: bool) -> URIRef:
        if ds.theme not in THEMES:
            raise ValueError(f"dataset {ds.id}: unknown theme {ds.theme!r}")
        node = URIRef(dataset_iri(self.base, ds.id))
        page = self._document(_entry_page(self.base, ds.id))
        self._add(node, RDF.type, DCAT.Dataset)
        self._add(node, DCT.identifier, Literal(_clean(ds.identifier)))
        self._text(node, DCT.title, ds.title)
        self._text(node, DCT.description, ds.description or ds.title)
        for keyword in _unique(k for k in (_clean(k).strip() for k in ds.keywords) if k):
            self._add(node, DCAT.keyword, Literal(keyword, lang="zh"))
        publisher = self._agent(ds.publisher_id, ds.publisher_name)
        self._add(node, DCT.publisher, publisher)
        self._add(node, DCAT.contactPoint, self._contact(publisher, ds.publisher_name))
        self._add(node, DCAT.landingPage, page)
        for code in _EU_THEMES[ds.theme]:
            self._add(node, DCAT.theme, self._eu_theme(code))
        self._add(node, DCAT.theme, self._theme(ds.theme))
        frequency = self._frequency(UpdateFrequency(ds.update_frequency))
        self._add(node, DCT.accrualPeriodicity, frequency)
        open_type = OpenType(ds.open_type)
        self._add(node, DCT.accessRights, self._access_right(open_type))
        self._add(node, DCT.language, self._language())
        if ds.district_name and ds.district_name.strip():
            place = BNode()
            self._add(place, RDF.type, DCT.Location)
            self._text(place, SKOS.prefLabel, ds.district_name.strip())
            self._add(node, DCT.spatial, place)
        if ds.issued is not None:
            self._add(node, DCT.issued, _when(ds.issued))
        self._add(node, DCT.modified, _when(ds.modified))
        # DCAT-AP 3 reads dcat:version; owl:versionInfo is what DCAT-AP 2 harvesters read.
        self._add(node, DCAT.version, Literal(str(ds.version)))
        self._add(node, OWL.versionInfo, Literal(str(ds.version)))
        if ds.ledger_url:
            self._add(node, FOAF.page, self._ledger_record(ds.ledger_url))
        for related in _unique(ds.related_ids):
            self._add(node, DCT.relation, self._resource(dataset_iri(self.base, related)))
        # Our own attributes, which DCAT has no term for, as concepts of our schemes.
        self._own(node, "openType", "open-types", open_type, OPEN_LABELS)
        self._own(node, "shareType", "share-types", ShareType(ds.share_type), SHARE_LABELS)
        self._own(node, "grade", "grades", Grade(ds.grade), GRADE_LABELS)
        entry = _Entry(
            data=ds,
            node=node,
            page=page,
            licence=self._licence(open_type),
            schema=self._schema(page, ds, columns=columns) if ds.fields else None,
        )
        for delivery in _unique(ds.delivery):
            self._add(node, DCAT.distribution, self._distribution(entry, delivery))
        return node

    def _distribution(self, entry: _Entry, delivery: str) -> URIRef:
        if delivery not in DELIVERY_LABELS:
            raise ValueError(f"dataset {entry.data.id}: unknown delivery {delivery!r}")
        dist = URIRef(f"{entry.page}#{delivery}")
        self._add(dist, RDF.type, DCAT.Distribution)
        self._text(dist, DCT.title, DELIVERY_LABELS[delivery])
        self._add(dist, DCT.title, Literal(_DELIVERIES[delivery], lang="en"))
        if entry.licence is not None:
            self._add(dist, DCT.license, entry.licence)
        if entry.schema is not None:
            self._add(dist, DCT.conformsTo, entry.schema)
        if delivery in _SERVICES:
            endpoint = self._resource(_endpoint(self.base, entry.data.id, delivery))
            self._add(dist, DCAT.accessURL, endpoint)
            self._add(dist, DCAT.accessService, self._service(entry, delivery, endpoint))
        else:
            self._add(dist, DCAT.accessURL, entry.page)
        if delivery != "sandbox":
            # The API answers JSON whatever the data is held in; the sandbox hands out no data.
            held = DataFormat.API if delivery == "api" else DataFormat(entry.data.format)
            file_type, media_type = self._file_type(held)
            self._add(dist, DCT["format"], file_type)
            self._add(dist, DCAT.mediaType, media_type)
        return dist

    def _service(self, entry: _Entry, delivery: str, endpoint: URIRef) -> URIRef:
        service = URIRef(f"{entry.page}#{delivery}-service")
        self._add(service, RDF.type, DCAT.DataService)
        self._text(service, DCT.title, f"{entry.data.title}（{DELIVERY_LABELS[delivery]}）")
        self._add(service, DCAT.endpointURL, endpoint)
        self._add(service, DCAT.servesDataset, entry.node)
        return service

    def _schema(self, page: URIRef, ds: DcatDataset, *, columns: bool) -> URIRef:
        # DCAT-AP has no property for columns: distributions conform to a schema, which lists
        # the fields in order as CSVW columns.
        schema = URIRef(f"{page}#fields")
        self._add(schema, RDF.type, DCT.Standard)
        self._add(schema, RDF.type, CSVW.Schema)
        self._text(schema, DCT.title, f"{ds.title} 数据项")
        if columns:
            cells: list[Node] = []
            for field in ds.fields:
                column = BNode()
                self._add(column, RDF.type, CSVW.Column)
                self._add(column, CSVW.name, Literal(_clean(field.name)))
                self._add(column, CSVW.datatype, Literal(_CSVW_TYPES.get(field.type, "string")))
                if field.description.strip():
                    self._text(column, DCT.description, field.description)
                cells.append(column)
            head = BNode()
            Collection(self.g, head, cells)
            self._add(schema, CSVW.column, head)
        return schema

    def _paging(self, catalog: URIRef, cat: DcatCatalog) -> None:
        last = max(1, math.ceil(cat.total / cat.page_size))

        def page(number: int) -> URIRef:
            return URIRef(f"{self.base}/catalog?page={number}&page_size={cat.page_size}")

        view = page(cat.page)
        self._add(catalog, HYDRA.totalItems, Literal(cat.total))
        self._add(catalog, HYDRA.view, view)
        self._add(view, RDF.type, HYDRA.PartialCollectionView)
        self._add(view, HYDRA.first, page(1))
        self._add(view, HYDRA.last, page(last))
        if cat.page > 1:
            self._add(view, HYDRA.previous, page(min(cat.page - 1, last)))
        if cat.page < last:
            self._add(view, HYDRA.next, page(cat.page + 1))

    def _agent(self, organisation_id: str, name: str) -> URIRef:
        agent = URIRef(f"{self.base}/organisations/{quote(organisation_id, safe='')}")
        if self._first(agent):
            self._add(agent, RDF.type, FOAF.Agent)
            self._add(agent, RDF.type, FOAF.Organization)
            self._text(agent, FOAF.name, name)
            self._add(
                agent, DCT.type, self._concept(LOCAL_AUTHORITY, "Local authority", "地方政府机构")
            )
        return agent

    def _contact(self, agent: URIRef, name: str) -> URIRef:
        contact = URIRef(f"{agent}#contact")
        if self._first(contact):
            self._add(contact, RDF.type, VCARD.Kind)
            self._add(contact, RDF.type, VCARD.Organization)
            self._text(contact, VCARD.fn, name)
            self._add(contact, VCARD.hasURL, agent)
        return contact

    def _ledger_record(self, url: str) -> URIRef:
        record = self._document(url)
        self._text(record, DCT.title, "目录上链存证")
        return record

    def _eu_theme_scheme(self) -> URIRef:
        scheme = URIRef(f"{EU}data-theme")
        if self._first(scheme):
            self._add(scheme, RDF.type, SKOS.ConceptScheme)
            self._add(scheme, DCT.title, Literal("Data theme", lang="en"))
        return scheme

    def _eu_theme(self, code: str) -> URIRef:
        english, chinese = _EU_THEME_LABELS[code]
        return self._concept(EU_THEME[code], english, chinese, scheme=self._eu_theme_scheme())

    def _theme_scheme(self) -> URIRef:
        scheme = URIRef(f"{self.base}/vocab/themes")
        if self._first(scheme):
            self._add(scheme, RDF.type, SKOS.ConceptScheme)
            self._text(scheme, DCT.title, "公共数据分类")
            self._add(scheme, DCT.title, Literal("Public data themes", lang="en"))
        return scheme

    def _theme(self, code: str) -> URIRef:
        chinese, english = THEMES[code]
        concept = URIRef(f"{self.base}/vocab/themes/{code}")
        if concept not in self._described:
            self._concept(concept, english, chinese, scheme=self._theme_scheme())
            self._add(concept, SKOS.notation, Literal(code))
            for eu_code in _EU_THEMES[code]:
                self._add(concept, SKOS.closeMatch, EU_THEME[eu_code])
        return concept

    def _frequency(self, frequency: UpdateFrequency) -> URIRef:
        code, english = _EU_FREQUENCIES[frequency]
        chinese = FREQUENCY_LABELS[frequency]
        return self._concept(EU_FREQUENCY[code], english, chinese, also=DCT.Frequency)

    def _access_right(self, open_type: OpenType) -> URIRef:
        code, english, chinese = _EU_ACCESS[open_type]
        return self._concept(EU_ACCESS[code], english, chinese, also=DCT.RightsStatement)

    def _language(self) -> URIRef:
        return self._concept(CHINESE, "Chinese", "中文", also=DCT.LinguisticSystem)

    def _file_type(self, held: DataFormat) -> tuple[URIRef, URIRef]:
        code, label, media = _EU_FILE_TYPES[held]
        file_type = EU_FILE_TYPE[code]
        media_type = URIRef(f"{IANA}{media}")
        if self._first(file_type):
            self._add(file_type, RDF.type, DCT.MediaTypeOrExtent)
            self._add(file_type, RDF.type, SKOS.Concept)
            self._add(file_type, SKOS.prefLabel, Literal(label, lang="en"))
        if self._first(media_type):
            self._add(media_type, RDF.type, DCT.MediaType)
        return file_type, media_type

    def _licence(self, open_type: OpenType) -> URIRef | None:
        if open_type not in _LICENCES:
            return None
        name, chinese, english = _LICENCES[open_type]
        licence = URIRef(f"{self.base}/licences/{name}")
        if self._first(licence):
            self._add(licence, RDF.type, DCT.LicenseDocument)
            self._add(licence, DCT.title, Literal(chinese, lang="zh"))
            self._add(licence, DCT.title, Literal(english, lang="en"))
        return licence

    def _own(
        self, node: URIRef, term: str, scheme: str, code: _Code, labels: Mapping[_Code, str]
    ) -> None:
        concept = URIRef(f"{self.base}/vocab/{scheme}/{code}")
        if self._first(concept):
            self._add(concept, RDF.type, SKOS.Concept)
            self._add(concept, SKOS.prefLabel, Literal(labels[code], lang="zh"))
            self._add(concept, SKOS.notation, Literal(str(code)))
        self._add(node, URIRef(f"{self.base}/vocab#{term}"), concept)

    def _concept(
        self,
        concept: URIRef,
        english: str,
        chinese: str,
        *,
        also: URIRef | None = None,
        scheme: URIRef | None = None,
    ) -> URIRef:
        # Typed and labelled in the output itself: the shapes check both without inference.
        if self._first(concept):
            self._add(concept, RDF.type, SKOS.Concept)
            if also is not None:
                self._add(concept, RDF.type, also)
            self._add(concept, SKOS.prefLabel, Literal(english, lang="en"))
            self._add(concept, SKOS.prefLabel, Literal(chinese, lang="zh"))
            if scheme is not None:
                self._add(concept, SKOS.inScheme, scheme)
        return concept

    def _document(self, iri: str) -> URIRef:
        # A page is a document (landing page, homepage) and a resource (access URL) at once.
        node = self._resource(iri)
        self._add(node, RDF.type, FOAF.Document)
        return node

    def _resource(self, iri: str) -> URIRef:
        node = URIRef(iri)
        self._add(node, RDF.type, RDFS.Resource)
        return node

    def _text(self, node: URIRef | BNode, predicate: URIRef, value: str) -> None:
        self._add(node, predicate, Literal(_clean(value), lang="zh"))

    def _add(self, subject: Node, predicate: Node, value: Node) -> None:
        self.g.add((subject, predicate, value))

    def _first(self, node: Node) -> bool:
        if node in self._described:
            return False
        self._described.add(node)
        return True


def _entry_page(base: str, entry_id: str) -> str:
    return f"{base}/catalog/{quote(entry_id, safe='')}"


def _endpoint(base: str, entry_id: str, delivery: str) -> str:
    path = "api/v1/data" if delivery == "api" else "sandbox"
    return f"{base}/{path}/{quote(entry_id, safe='')}"


def _clean(value: str) -> str:
    return _UNSAFE.sub("", value.replace("\r\n", "\n").replace("\r", "\n"))


def _when(moment: datetime) -> Literal:
    utc = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    return Literal(utc.replace(microsecond=0).isoformat(), datatype=XSD.dateTime)


def _unique(values: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(values))
