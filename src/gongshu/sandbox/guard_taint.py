"""Taint of an expression with respect to identifying fields (identifier, quasi-identifier).

Each expression is ``clean`` (no identifying field), ``direct`` (exactly an identifying column,
perhaps cast), ``general`` (an identifying column passed through ONE generalising function, counted
in pieces) or ``raw`` (an identifying value transformed any other way: CASE, concat, arithmetic …).
Grouping keys and plain outputs must be clean or a single generalised piece.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import IntEnum

from sqlglot import exp

from gongshu.sandbox.guard_base import IDENTIFYING, fold
from gongshu.sandbox.guard_functions import GENERALISING_UNITS

__all__ = ["CLEAN", "Ref", "State", "Taint", "generalised_argument", "taint_of"]

MAX_PREFIX = 6


class State(IntEnum):
    """How an expression carries identifying fields, from harmless to raw."""

    CLEAN = 0
    DIRECT = 1
    GENERAL = 2
    RAW = 3


@dataclass(frozen=True)
class Ref:
    """A base field an expression reads: view, field name and catalogue flags."""

    table: str
    field: str
    flags: frozenset[str]
    # A quasi-identifier whose values come from a published code list (the grant's domain) is
    # already a coarse category: it counts as one generalised piece as it stands.
    coded: bool = False

    def taint(self) -> Taint:
        """The taint of reading this field as it is."""
        if not self.flags & IDENTIFYING:
            return Taint(State.CLEAN, 0, frozenset({self}))
        if self.coded and "identifier" not in self.flags:
            return Taint(State.GENERAL, 1, frozenset({self}))
        return Taint(State.DIRECT, 0, frozenset({self}))


@dataclass(frozen=True)
class Taint:
    """An expression's state, its number of generalised pieces and every base field it reads."""

    state: State
    pieces: int
    refs: frozenset[Ref]

    @property
    def identifying(self) -> frozenset[Ref]:
        """The identifier and quasi-identifier fields among the refs."""
        return frozenset(ref for ref in self.refs if ref.flags & IDENTIFYING)

    @property
    def generalised(self) -> bool:
        """Clean, or one generalised piece: fit for a group key or a plain output."""
        return self.state == State.CLEAN or (self.state == State.GENERAL and self.pieces <= 1)


CLEAN = Taint(State.CLEAN, 0, frozenset())

Lookup = Callable[[exp.Column], Taint]

_PASSTHROUGH = (exp.Paren, exp.Alias, exp.Cast, exp.TryCast)
_CONSTANTS = (exp.Literal, exp.Null, exp.Boolean, exp.Var, exp.DataType, exp.CurrentDate, exp.Star)


def _int_literal(node: exp.Expr | None) -> int | None:
    if isinstance(node, exp.Neg) and isinstance(node.this, exp.Literal) and node.this.is_int:
        return -int(node.this.name)
    if isinstance(node, exp.Literal) and node.is_int:
        return int(node.name)
    return None


def _number_literal(node: exp.Expr | None) -> float | None:
    if isinstance(node, exp.Literal) and node.is_number:
        return float(node.name)
    return None


def _unit(node: exp.Expr | None) -> str | None:
    if isinstance(node, exp.Var | exp.Literal):
        return fold(str(node.name))
    return None


def _arg(node: exp.Expr, key: str = "this") -> exp.Expr | None:
    value = node.args.get(key)
    return value if isinstance(value, exp.Expr) else None


def _divided(node: exp.Expr) -> exp.Expr | None:
    # floor(x / 10): the division by a literal of at least 2 is what generalises.
    inner = node.unnest() if isinstance(node, exp.Paren) else node
    if isinstance(inner, exp.Div | exp.IntDiv):
        divisor = _number_literal(inner.expression)
        if divisor is not None and divisor >= 2:
            return _arg(inner)
    return None


def generalised_argument(node: exp.Expr) -> exp.Expr | None:
    """The argument a generalising call coarsens, or None when the call does not generalise."""
    if isinstance(node, exp.Year | exp.Month | exp.Quarter):
        return _arg(node)
    if isinstance(node, exp.TimestampTrunc | exp.DateTrunc):
        if node.args.get("zone") is not None:
            return None
        return _arg(node) if _unit(node.args.get("unit")) in GENERALISING_UNITS else None
    if isinstance(node, exp.Extract):
        return _arg(node, "expression") if _unit(node.this) in GENERALISING_UNITS else None
    if isinstance(node, exp.Anonymous):
        name = str(node.name).lower()
        args: list[exp.Expr] = list(node.expressions)
        if name in {"date_part", "datepart"} and len(args) == 2:
            unit = args[0]
            if (
                isinstance(unit, exp.Literal)
                and unit.is_string
                and _unit(unit) in GENERALISING_UNITS
            ):
                return args[1]
        if name == "prefix" and len(args) == 2:
            return _short_prefix(args[0], args[1])
        return None
    if isinstance(node, exp.StartsWith):
        return _short_prefix(node.this, node.expression)
    if isinstance(node, exp.Left):
        length = _int_literal(node.expression)
        return _arg(node) if length is not None and 1 <= length <= MAX_PREFIX else None
    if isinstance(node, exp.Substring):
        start = _int_literal(node.args.get("start"))
        length = _int_literal(node.args.get("length"))
        if start is not None and length is not None and 1 <= length <= MAX_PREFIX:
            return _arg(node)
        return None
    if isinstance(node, exp.Floor | exp.Ceil | exp.Trunc):
        return None if node.args.get("decimals") is not None else _divided(node.this)
    if isinstance(node, exp.Round):
        decimals = node.args.get("decimals")
        if decimals is None:
            return _divided(node.this)
        places = _int_literal(decimals)
        return _arg(node) if places is not None and places <= -1 else None
    if isinstance(node, exp.IntDiv):
        return _divided(node)
    return None


def _short_prefix(value: exp.Expr, prefix: exp.Expr) -> exp.Expr | None:
    if isinstance(prefix, exp.Literal) and prefix.is_string and len(prefix.name) <= MAX_PREFIX:
        return value
    return None


def _combine(taints: list[Taint]) -> Taint:
    refs = frozenset().union(*(taint.refs for taint in taints)) if taints else frozenset()
    states = [taint.state for taint in taints]
    if State.RAW in states or State.DIRECT in states:
        return Taint(State.RAW, 0, refs)
    pieces = sum(taint.pieces for taint in taints if taint.state == State.GENERAL)
    if pieces:
        return Taint(State.GENERAL, pieces, refs)
    return Taint(State.CLEAN, 0, refs)


def taint_of(node: exp.Expr, lookup: Lookup) -> Taint:
    """The taint of an expression, resolving columns through ``lookup``."""
    if isinstance(node, exp.Column):
        return lookup(node)
    if isinstance(node, _CONSTANTS):
        return CLEAN
    if isinstance(node, _PASSTHROUGH):
        return taint_of(node.this, lookup)
    argument = generalised_argument(node)
    if argument is not None:
        # Every other argument of a generalising call is a validated literal.
        inner = taint_of(argument, lookup)
        if inner.state in {State.DIRECT, State.GENERAL}:
            return Taint(State.GENERAL, max(1, inner.pieces), inner.refs)
        return inner
    return _combine([taint_of(child, lookup) for child in node.iter_expressions()])
