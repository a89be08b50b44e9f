"""From text to one SELECT tree: size, statement count, first keyword, nesting, syntax."""

from __future__ import annotations

from typing import NoReturn

import sqlglot
from sqlglot import exp
from sqlglot.dialects.dialect import Dialect
from sqlglot.errors import ParseError, TokenError
from sqlglot.tokenizer_core import Token, TokenType

from gongshu.sandbox.errors import QueryRefused
from gongshu.sandbox.guard_base import construct_name, refuse
from gongshu.sandbox.guard_functions import SET_OPERATIONS

__all__ = ["MAX_DEPTH", "MAX_NESTING", "MAX_SQL_LENGTH", "parse_statement", "too_deep"]

MAX_SQL_LENGTH = 20_000
# sqlglot's parser spends about 25 Python frames per nesting level; 24 levels stay well inside
# the default recursion limit even when called from deep in a web stack.
MAX_NESTING = 24
# Tree depth (long AND/+ chains nest one level per term without parentheses).
MAX_DEPTH = 256

_OPENERS = {TokenType.L_PAREN, TokenType.L_BRACKET, TokenType.L_BRACE, TokenType.CASE}
_CLOSERS = {TokenType.R_PAREN, TokenType.R_BRACKET, TokenType.R_BRACE, TokenType.END}
_FIRST_TOKENS = {TokenType.SELECT, TokenType.WITH, TokenType.FROM, TokenType.L_PAREN}


def too_deep(what: str) -> NoReturn:
    """Refuse a query nested deeper than the parser can safely follow."""
    refuse(
        "sql_too_long",
        f"查询嵌套过深（nesting: {what}）",
        f"query nesting too deep: {what}",
        construct="nesting",
    )


def _tokens(sql: str) -> list[Token]:
    try:
        return list(Dialect.get_or_raise("duckdb").tokenize(sql))
    except (TokenError, ValueError) as error:
        refuse("sql_syntax", "SQL 语法错误", f"syntax error: {_first_line(error)}")
    except RecursionError:
        too_deep("tokens")


def _first_line(error: Exception) -> str:
    text = str(error).splitlines()
    return text[0][:200] if text else type(error).__name__


def _check_tokens(tokens: list[Token]) -> None:
    statements: list[list[Token]] = [[]]
    for token in tokens:
        if token.token_type == TokenType.SEMICOLON:
            statements.append([])
        else:
            statements[-1].append(token)
    non_empty = [statement for statement in statements if statement]
    if not non_empty:
        refuse("empty_query", "查询为空", "empty query")
    if len(non_empty) > 1:
        refuse("multiple_statements", "只允许一条语句", "only one statement is allowed")
    first = non_empty[0][0]
    if first.token_type not in _FIRST_TOKENS:
        keyword = first.text.upper()[:40]
        refuse(
            "statement_not_allowed",
            f"不允许的语句 {keyword}",
            f"statement not allowed: {keyword}",
            construct=keyword,
        )
    depth = 0
    for token in non_empty[0]:
        if token.token_type in _OPENERS:
            depth += 1
            if depth > MAX_NESTING:
                too_deep(f"超过 {MAX_NESTING} 层 / more than {MAX_NESTING} levels")
        elif token.token_type in _CLOSERS:
            depth = max(depth - 1, 0)


def _syntax_error(error: ParseError) -> NoReturn:
    details = error.errors[0] if error.errors else {}
    line = details.get("line")
    column = details.get("col")
    description = str(details.get("description") or _first_line(error))[:200]
    where = f"第 {line} 行第 {column} 列" if line is not None else ""
    raise QueryRefused(
        "sql_syntax",
        f"SQL 语法错误{where} (syntax error"
        + (f" at line {line}, column {column}" if line is not None else "")
        + f": {description})",
        construct=None,
        line=int(line) if isinstance(line, int) else None,
        column=int(column) if isinstance(column, int) else None,
    )


def _check_depth(tree: exp.Expr) -> None:
    stack: list[tuple[exp.Expr, int]] = [(tree, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            too_deep(f"表达式超过 {MAX_DEPTH} 层 / expression deeper than {MAX_DEPTH}")
        stack.extend((child, depth + 1) for child in node.iter_expressions())


def _check_root(tree: exp.Expr) -> exp.Expr:
    # A parenthesised query parses as a Subquery: unwrap it when it carries nothing else.
    while isinstance(tree, exp.Subquery) and not any(
        value for key, value in tree.args.items() if key != "this"
    ):
        inner = tree.this
        inner.parent = None
        tree = inner
    if isinstance(tree, exp.Select) or type(tree) in SET_OPERATIONS:
        return tree
    name = construct_name(tree)
    refuse(
        "statement_not_allowed",
        f"不允许的语句 {name}",
        f"statement not allowed: {name}",
        construct=name,
        node=tree,
    )


def parse_statement(sql: str) -> exp.Expr:
    """Parse one DuckDB SELECT statement, refusing anything else with a precise reason."""
    if len(sql) > MAX_SQL_LENGTH:
        refuse(
            "sql_too_long",
            f"查询语句过长（超过 {MAX_SQL_LENGTH} 个字符）",
            f"query too long: more than {MAX_SQL_LENGTH} characters",
        )
    if "\x00" in sql:
        # DuckDB stops reading at a NUL byte; sqlglot would carry it on as part of a name.
        refuse("sql_syntax", "查询含有 NUL 字符", "the query contains a NUL character")
    _check_tokens(_tokens(sql))
    try:
        trees = [tree for tree in sqlglot.parse(sql, read="duckdb") if tree is not None]
    except ParseError as error:
        _syntax_error(error)
    except RecursionError:
        too_deep("parser")
    except Exception as error:  # sqlglot raises assorted errors on malformed input
        refuse("sql_syntax", "SQL 语法错误", f"syntax error: {_first_line(error)}")
    if not trees:
        refuse("empty_query", "查询为空", "empty query")
    if len(trees) > 1:
        refuse("multiple_statements", "只允许一条语句", "only one statement is allowed")
    _check_depth(trees[0])
    return _check_root(trees[0])
