"""Highlighting's quick path (text that folds one character to one) marks what the full walk
marks, and the walk still handles text that folds otherwise."""

from __future__ import annotations

import pytest

from gongshu.catalog import textsearch
from gongshu.catalog.textsearch import Analyzer, highlight, normalise

TEXTS = [
    "公交站点基础信息",  # folds one to one: the quick path
    "朝阳区2021年（第一季度）公交站点：ＰＭ２．５监测",  # full width folds one to one too
    "交通運輸與車輛",  # Traditional, one to one
    "",
    "  公交  站点\t信息 ",  # spaces squeezed and trimmed: the walk
    "Café ﬁle 公交",  # a ligature folds to two characters: the walk
    "x\u200b公交\u0301站点",  # format and combining characters vanish: the walk
    "公交\n\n站点",
]


@pytest.mark.parametrize("text", TEXTS)
def test_offsets_agree_with_the_character_walk(text: str) -> None:
    folded, starts, ends = textsearch._normalise_with_offsets(text)
    assert (folded, list(starts), list(ends)) == textsearch._walk_offsets(text)
    assert folded == normalise(text)


@pytest.mark.parametrize(
    ("text", "q", "marked"),
    [
        ("朝阳区2021年公交站点基础信息", "公交站点", "朝阳区2021年<mark>公交站点</mark>基础信息"),
        ("  公交  站点 信息", "站点", "  公交  <mark>站点</mark> 信息"),
        ("ﬁle 公交", "公交", "ﬁle <mark>公交</mark>"),
        ("PM２．５ 監測", "监测", "PM２．５ <mark>監測</mark>"),
        ("<b>公交</b> & 站点", "站点", "&lt;b&gt;公交&lt;/b&gt; &amp; <mark>站点</mark>"),
    ],
)
def test_highlight_marks_the_source_text_on_either_path(text: str, q: str, marked: str) -> None:
    query = Analyzer().parse_query(q)
    assert str(highlight(text, query)) == marked
