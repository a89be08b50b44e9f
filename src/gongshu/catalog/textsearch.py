"""Chinese text analysis for catalogue search: normalising, indexing, parsing, highlighting.

Both search engines see only the terms made here, so SQLite FTS5 and PostgreSQL match the same
documents. A term is a run of letters and digits (``str.isalnum``), lower case, which FTS5's
default ``unicode61`` tokenizer keeps as one unchanged token; PostgreSQL gets it through a
``tsvector`` / ``tsquery`` literal, bypassing its parser.

A document is indexed as the set of:

* every CJK character (unigram) and every two adjacent CJK characters (bigram) of each run;
* every dictionary word (jieba's, ``data/citywords.txt`` and the words given to the
  :class:`Analyzer`) of three or more characters occurring in a CJK run — a superset of the
  dictionary words jieba's ``cut_for_search`` yields, found by a prefix scan several times
  faster than segmenting;
* every run of other letters and digits (``pm2``, ``5``, ``api``), cut at 64 characters.

Stopwords (的, 了, the, of …) are not indexed as single characters or Latin words, and a query
never requires any stopword. A :class:`Query` is an AND of groups; each group is an OR of
alternatives; each alternative is an AND of terms. Query text is segmented by jieba; a word of
one or two CJK characters needs that unigram or bigram; a dictionary word of three or more
becomes ``(word) OR (its bigrams)``, leaving out the bigrams that straddle two of its own parts
(公交站点 → ``公交站点 OR (公交 AND 站点)``), and a longer word jieba's HMM invented needs all
its bigrams. A document holding the word holds the fallback's terms too, so whether a stored
document matches depends only on its unigrams, bigrams and Latin words, never on the dictionary
it was indexed with: adding words changes ranking and query segmentation, and no index goes
stale.
"""

from __future__ import annotations

import logging
import math
import re
import threading
import unicodedata
import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import cache
from importlib.resources import files
from typing import Any, TypeAlias

from markupsafe import Markup, escape

from gongshu.kernel.errors import InvalidInput

__all__ = [
    "MAX_QUERY_CHARS",
    "MAX_TERM_CHARS",
    "STOPWORDS",
    "Alternative",
    "Analyzer",
    "Group",
    "Query",
    "highlight",
    "normalise",
    "to_fts5",
    "to_tsquery",
    "to_tsvector_literal",
]

MAX_QUERY_CHARS = 200
MAX_TERM_CHARS = 64

Alternative: TypeAlias = tuple[str, ...]
"""Terms that must all be present."""
Group: TypeAlias = tuple[Alternative, ...]
"""Alternatives of which at least one must hold."""

_STOPWORDS = (
    "的 了 着 和 与 及 或 之 而 吗 呢 吧 啊 呀 么 哦 以及 或者 并且 而且 关于 对于 其他 其它"
    " a an and are as at be by for from in is it of on or the to with"
)
STOPWORDS = frozenset(_STOPWORDS.split())

# CJK ideographs (with 々 and 〇), kana and Hangul: text without spaces, indexed by n-grams.
_CJK = (
    "\u3005\u3007\u3040-\u30ff\u31f0-\u31ff\u3400-\u4dbf\u4e00-\u9fff"
    "\uac00-\ud7af\uf900-\ufaff\U00020000-\U0003ffff"
)
# Letters that Python counts as alphanumeric but FTS5's unicode61 tables treat as separators
# (New Tai Lue vowels and two Vedic signs, recategorised in newer Unicode versions).
_NOT_FTS5_ALNUM = "\u19b0-\u19c0\u19c8\u19c9\u1cf2\u1cf3"
_ALNUM_RUN = re.compile(f"[^\\W_{_NOT_FTS5_ALNUM}]+")
_PIECE = re.compile(f"([{_CJK}]+)|([^{_CJK}]+)")
_CJK_CHAR = re.compile(f"[{_CJK}]")
_JIEBA_HAN = re.compile("([\u4e00-\u9fd5]+)|([^\u4e00-\u9fd5]+)")  # what jieba segments
_SPACES = re.compile(" {2,}")


@cache
def _t2s() -> dict[str, str]:
    """Traditional → Simplified, one character to one, from OpenCC's t2s character table."""
    table: dict[str, str] = {}
    path = files("opencc") / "dictionary" / "TSCharacters.txt"
    for line in path.read_text(encoding="utf-8").splitlines():
        trad, _, simplified = line.partition("\t")
        first = simplified.split(" ")[0]
        if len(trad) == 1 and len(first) == 1 and trad != first:
            table[trad] = first
    for trad, simple in table.items():  # close chains (薴 → 苧 → 苎) so folding is idempotent
        seen = {trad}
        while simple in table and simple not in seen:
            seen.add(simple)
            simple = table[simple]
        table[trad] = simple
    return table


def _fold_char(char: str) -> str:
    if char.isspace() or unicodedata.category(char) == "Cc":
        return " "
    if unicodedata.category(char) in ("Cf", "Cs"):
        return ""
    folded = unicodedata.normalize("NFKD", unicodedata.normalize("NFKC", char).casefold())
    kept = "".join(c for c in folded if unicodedata.category(c) not in ("Mn", "Me"))
    t2s = _t2s()
    return "".join(
        " " if c.isspace() else t2s.get(c, c) for c in unicodedata.normalize("NFKC", kept)
    )


class _FoldTable(dict[int, str]):
    """``str.translate`` table that folds each character on first sight."""

    def __missing__(self, key: int) -> str:
        value = _fold_char(chr(key))
        if key < 0x40000:  # keep the table bounded: later planes are private or unassigned
            self[key] = value
        return value


@cache
def _fold_table() -> _FoldTable:
    return _FoldTable()


def normalise(text: str) -> str:
    """Fold width, case, diacritics and Traditional characters, one character at a time."""
    folded = text.translate(_fold_table())
    return _SPACES.sub(" ", folded).strip(" ")


class _ChangedTable(dict[int, int | None]):
    """``str.translate`` table that deletes each character folding to exactly one character:
    what is left of a text is what moves offsets."""

    def __missing__(self, key: int) -> int | None:
        value = None if len(_fold_table()[key]) == 1 else key
        if key < 0x40000:
            self[key] = value
        return value


@cache
def _changed_table() -> _ChangedTable:
    return _ChangedTable()


def _normalise_with_offsets(text: str) -> tuple[str, Sequence[int], Sequence[int]]:
    """``normalise(text)`` with, per output character, its source span in ``text``."""
    folded = text.translate(_fold_table())
    # Most catalogue text folds one character to one, with no spaces to squeeze: then every
    # offset is its own, and the per-character walk (the bulk of highlighting) is not needed.
    if not text.translate(_changed_table()) and not (
        folded.startswith(" ") or folded.endswith(" ") or "  " in folded
    ):
        return folded, range(len(text)), range(1, len(text) + 1)
    return _walk_offsets(text)


def _walk_offsets(text: str) -> tuple[str, list[int], list[int]]:
    """:func:`_normalise_with_offsets` one character at a time (any text)."""
    table = _fold_table()
    out: list[str] = []
    starts: list[int] = []
    ends: list[int] = []
    for i, char in enumerate(text):
        folded = table[ord(char)]
        if not folded and ends:
            ends[-1] = i + 1  # a dropped accent or format character goes with its base
        for c in folded:
            if c == " " and (not out or out[-1] == " "):
                continue
            out.append(c)
            starts.append(i)
            ends.append(i + 1)
    if out and out[-1] == " ":
        del out[-1], starts[-1], ends[-1]
    return "".join(out), starts, ends


@dataclass(frozen=True, slots=True)
class Query:
    """A parsed query: normalised text and an AND of groups (OR of alternatives, AND of terms)."""

    text: str
    groups: tuple[Group, ...]

    @property
    def terms(self) -> tuple[str, ...]:
        """Every term of the query, once, in order of appearance (for highlighting)."""
        return tuple(dict.fromkeys(t for g in self.groups for alt in g for t in alt))


def _bigrams(run: str) -> list[str]:
    return [run[i : i + 2] for i in range(len(run) - 1)]


class Analyzer:
    """jieba with the city dictionary: index terms and parsed queries for catalogue search.

    Build one per process and share it: it is thread-safe, and loads its own jieba tokenizer
    (about 1 s and 100 MB) on first use, never at import or construction.
    """

    def __init__(self, extra_words: Iterable[str] = ()) -> None:
        self._lock = threading.Lock()
        self._pending: list[str] = list(extra_words)
        self._seen: set[str] = set(self._pending)
        self._tokenizer: Any = None
        self._freq: dict[str, int] = {}

    def _loaded(self) -> Any:
        tokenizer = self._tokenizer
        if tokenizer is None:
            with self._lock:
                if self._tokenizer is None:
                    self._tokenizer = self._load()
                tokenizer = self._tokenizer
        return tokenizer

    def _load(self) -> Any:
        # jieba's source and its pkg_resources import warn on recent Pythons; its logger chats.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import jieba

            jieba.setLogLevel(logging.WARNING)
            tokenizer = jieba.Tokenizer()
            tokenizer.initialize()
        self._freq = tokenizer.FREQ
        text = (files("gongshu.catalog") / "data" / "citywords.txt").read_text(encoding="utf-8")
        for line in text.splitlines():
            fields = line.split()
            if fields and not fields[0].startswith("#"):
                self._add(tokenizer, fields[0], int(fields[1]) if len(fields) > 1 else 0)
        for word in self._pending:
            self._add(tokenizer, word, 0)
        self._pending.clear()
        return tokenizer

    def _add(self, tokenizer: Any, word: str, freq: int) -> None:
        for run in _ALNUM_RUN.findall(normalise(word)):
            for cjk, _ in _PIECE.findall(run):
                if len(cjk) >= 2:
                    # at least the frequency that keeps the word whole when segmenting
                    tokenizer.add_word(cjk, max(freq, tokenizer.suggest_freq(cjk, False)))

    def add_words(self, words: Iterable[str]) -> None:
        """Teach the dictionary more words (department, district names); repeats are cheap."""
        new = [w for w in words if w not in self._seen]
        if not new:
            return
        with self._lock:
            self._seen.update(new)
            if self._tokenizer is None:
                self._pending.extend(new)
                return
            for word in new:
                self._add(self._tokenizer, word, 0)

    def index_terms(self, text: str) -> list[str]:
        """The terms to index for one document field, sorted."""
        self._loaded()
        freq = self._freq
        terms: set[str] = set()
        for run in _ALNUM_RUN.findall(normalise(text)):
            for cjk, other in _PIECE.findall(run):
                if not cjk:
                    if other not in STOPWORDS:
                        terms.add(other[:MAX_TERM_CHARS])
                    continue
                terms.update(c for c in cjk if c not in STOPWORDS)
                terms.update(_bigrams(cjk))
                n = len(cjk)
                for i in range(n - 2):
                    # FREQ holds every prefix of every word (frequency 0), so the walk stops early
                    if cjk[i : i + 2] not in freq:
                        continue
                    for j in range(i + 3, n + 1):
                        count = freq.get(cjk[i:j])
                        if count is None:
                            break
                        if count:
                            terms.add(cjk[i:j])
        return sorted(terms)

    def parse_query(self, q: str) -> Query:
        """Parse a user's query; :class:`InvalidInput` on ``q`` when it cannot be searched."""
        stripped = q.strip()
        if len(stripped) > MAX_QUERY_CHARS:
            message = (
                f"检索词过长 (the query has {len(stripped)} characters; "
                f"the limit is {MAX_QUERY_CHARS})"
            )
            raise InvalidInput.field("q", message)
        text = normalise(stripped)
        runs = _ALNUM_RUN.findall(text)
        if not runs:
            raise InvalidInput.field("q", "请输入检索词 (enter a word or number to search for)")
        groups: dict[Group, None] = {}
        for run in runs:
            for cjk, other in _PIECE.findall(run):
                words = self._segment(cjk) if cjk else [other[:MAX_TERM_CHARS]]
                for word in words:
                    if word not in STOPWORDS:
                        groups[self._group(word) if cjk else ((word,),)] = None
        if not groups:
            raise InvalidInput.field(
                "q", "检索词只含常用虚词 (the query has only common words such as 的 or the)"
            )
        return Query(text=text, groups=tuple(groups))

    def _segment(self, run: str) -> list[str]:
        tokenizer = self._loaded()
        words: list[str] = []
        for han, rest in _JIEBA_HAN.findall(run):
            # kana, Hangul and rare ideographs jieba would split into single characters
            words.extend(tokenizer.cut(han, HMM=True) if han else [rest])
        return words

    def _group(self, word: str) -> Group:
        if len(word) <= 2:
            return ((word,),)
        if not self._freq.get(word):  # a name jieba's HMM found: its characters in order
            return (tuple(dict.fromkeys(_bigrams(word))),)
        # A compound's parts need not be adjacent (企业信用 finds 企业的公共信用): leave out
        # the bigrams that straddle two parts of two or more characters.
        cuts = self._cuts(word, 0)
        fallback = [word[i : i + 2] for i in range(len(word) - 1) if i + 1 not in cuts]
        return ((word,), tuple(dict.fromkeys(fallback)))

    def _cuts(self, word: str, offset: int) -> set[int]:
        """Where a dictionary word splits into words of two or more characters, recursively."""
        parts = self._parts(word)
        cuts: set[int] = set()
        at = offset
        for i, part in enumerate(parts):
            if i and len(part) > 1 and len(parts[i - 1]) > 1:
                cuts.add(at)
            if len(part) > 2 and self._freq.get(part):
                cuts |= self._cuts(part, at)
            at += len(part)
        return cuts

    def _parts(self, word: str) -> list[str]:
        """The likeliest split of a dictionary word into smaller words, by jieba's model."""
        freq, n = self._freq, len(word)
        log_total = math.log(self._loaded().total)
        best: list[tuple[float, int]] = [(0.0, n)] * (n + 1)
        for i in range(n - 1, -1, -1):
            options = [(-log_total + best[i + 1][0], i + 1)]  # one character
            for j in range(i + 2, n + 1 if i else n):
                count = freq.get(word[i:j])
                if count is None:
                    break
                if count:
                    options.append((math.log(count) - log_total + best[j][0], j))
            best[i] = max(options)
        parts, i = [], 0
        while i < n:
            parts.append(word[i : best[i][1]])
            i = best[i][1]
        return parts


def _fts5_term(term: str) -> str:
    return '"' + term.replace('"', '""') + '"'


def _ts_term(term: str) -> str:
    return "'" + term.replace("\\", "\\\\").replace("'", "''") + "'"


def _render(groups: tuple[Group, ...], quote: Callable[[str], str], and_: str, or_: str) -> str:
    rendered: list[str] = []
    for group in groups:
        alternatives = [
            quote(alt[0]) if len(alt) == 1 else "(" + and_.join(map(quote, alt)) + ")"
            for alt in group
        ]
        one = alternatives[0] if len(alternatives) == 1 else "(" + or_.join(alternatives) + ")"
        rendered.append(one)
    return and_.join(rendered)


def to_fts5(query: Query) -> str:
    """The query as an FTS5 MATCH expression (every term a quoted one-token string)."""
    return _render(query.groups, _fts5_term, " AND ", " OR ")


def to_tsquery(query: Query) -> str:
    """The query as a PostgreSQL ``tsquery`` literal (cast it, do not parse it)."""
    return _render(query.groups, _ts_term, " & ", " | ")


def to_tsvector_literal(terms: Iterable[str]) -> str:
    """Index terms as a PostgreSQL ``tsvector`` literal (cast it, do not parse it)."""
    return " ".join(_ts_term(t) for t in terms)


def _is_word_char(c: str) -> bool:
    return c.isalnum() and not _CJK_CHAR.match(c)


def _spans(text: str, terms: Iterable[str]) -> list[tuple[int, int]]:
    """Where terms occur in normalised ``text``; Latin terms only as whole words."""
    found: list[tuple[int, int]] = []
    for term in terms:
        check_start, check_end = _is_word_char(term[0]), _is_word_char(term[-1])
        start = text.find(term)
        while start >= 0:
            end = start + len(term)
            if not (
                (check_start and start > 0 and _is_word_char(text[start - 1]))
                or (check_end and end < len(text) and _is_word_char(text[end]))
            ):
                found.append((start, end))
            start = text.find(term, start + 1)
    return found


def _merge(spans: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged


def highlight(text: str, query: Query, *, max_chars: int | None = None) -> Markup:
    """Escaped ``text`` with query terms in ``<mark>``; a snippet around the first match."""
    folded, starts, ends = _normalise_with_offsets(text)
    marks = _merge((starts[s], ends[e - 1]) for s, e in _spans(folded, query.terms))
    begin, end = 0, len(text)
    if max_chars is not None:
        if max_chars < 1:
            raise ValueError("max_chars must be positive")
        if len(text) > max_chars:
            if marks:
                first_start, first_end = marks[0]
                lead = max(0, (max_chars - (first_end - first_start)) // 3)
                begin = max(0, first_start - lead)
            end = min(len(text), begin + max_chars)
            begin = max(0, end - max_chars)
    # Escaped pieces joined as plain text and marked safe once: Markup.join would escape and
    # wrap every piece again (a third of the time of a page's highlighting).
    parts: list[str] = ["…"] if begin > 0 else []
    position = begin
    for start, stop in marks:
        start, stop = max(start, begin), min(stop, end)
        if start >= stop:
            continue
        parts += [escape(text[position:start]), "<mark>", escape(text[start:stop]), "</mark>"]
        position = stop
    parts.append(escape(text[position:end]))
    if end < len(text):
        parts.append("…")
    return Markup("".join(parts))  # noqa: S704 - every piece is escaped or a literal tag
