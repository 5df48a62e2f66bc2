"""User filters (`--where`): parsed with sqlglot, checked, and rendered back as SQL LanceDB accepts.

A filter is one boolean SQL expression over the columns a user may filter on, e.g.

    subject = 2 AND label IN ('squat', 'boxing') AND t_start >= 1.5

`normalize_where` parses it into a syntax tree (never with regular expressions, so text inside
quoted strings is never touched), refuses anything that is not a single condition (`;`, DDL,
subqueries) and every column outside the allowed set, quotes numbers compared with string
columns (`subject = 2` -> `subject = '2'`, also for <, <=, >, >=, IN, NOT IN and BETWEEN, with
the number on either side), and renders the tree in the `Lance` dialect below. Every refusal is
a one-line ValueError: ``invalid filter '<what the user wrote>': <reason>``.

The dialect: LanceDB parses filters with sqlparser-rs and evaluates them with DataFusion. Of
sqlglot's dialects, DuckDB's output is the closest (single-quoted strings with '' escapes,
double-quoted identifiers, [..] array literals, array_has / array_has_any); Spark, Hive,
BigQuery and Databricks escape quotes inside strings with a backslash, which LanceDB rejects, and
Postgres, BigQuery and Trino rewrite array functions into forms it does not support. `Lance`
is DuckDB with the differences LanceDB 0.40 showed (tests/indexer/test_filters.py checks each one on a
real table): backtick identifiers are read too (LanceDB's documented way to quote a column),
casts to text are written `STRING` (LanceDB refuses TEXT and VARCHAR), and `array_has_all` and
`regexp_like` keep their names instead of becoming `@>` / `REGEXP_MATCHES`.
"""
from __future__ import annotations

from collections.abc import Iterable
from typing import ClassVar

import sqlglot
from sqlglot import exp
from sqlglot.dialects.dialect import rename_func
from sqlglot.dialects.duckdb import DuckDB
from sqlglot.errors import ParseError, TokenError
from sqlglot.tokens import TokenType

DEFAULT_STRING_COLUMNS = frozenset({"subject", "trial"})


class Lance(DuckDB):
    """The SQL dialect of LanceDB filters (see the module docstring)."""

    class Tokenizer(DuckDB.Tokenizer):
        IDENTIFIERS: ClassVar[list] = ['"', "`"]

    class Generator(DuckDB.Generator):
        TYPE_MAPPING: ClassVar[dict] = {
            **DuckDB.Generator.TYPE_MAPPING,
            exp.DataType.Type.TEXT: "STRING",
            exp.DataType.Type.VARCHAR: "STRING",
            exp.DataType.Type.CHAR: "STRING",
        }
        TRANSFORMS: ClassVar[dict] = {
            **DuckDB.Generator.TRANSFORMS,
            exp.NEQ: lambda self, e: self.binary(e, "!="),
            exp.ArrayContainsAll: rename_func("ARRAY_HAS_ALL"),
            exp.RegexpLike: rename_func("REGEXP_LIKE"),
        }


_COMPARISONS = (exp.EQ, exp.NEQ, exp.LT, exp.LTE, exp.GT, exp.GTE)
# What has no place inside a filter, wherever it appears in the tree (the root must be a condition,
# which already keeps out SELECT, DROP, INSERT, ALTER, SET, ...).
_FORBIDDEN = {exp.Query: "a subquery", exp.Subquery: "a subquery", exp.Exists: "a subquery",
              exp.Star: "'*'"}


class FilterError(ValueError):
    """A user filter that was refused; the message is one line naming what the user wrote."""


def normalize_where(where: str | None, allowed: Iterable[str],
                    string_columns: Iterable[str] = DEFAULT_STRING_COLUMNS) -> str | None:
    """The user's filter `where` as SQL for LanceDB, or a FilterError (a ValueError) saying why
    not. `allowed`: the columns the user may name; `string_columns`: those of them that hold
    strings, whose numeric comparisons get the number quoted. Empty filters pass through."""
    if where is None or not where.strip():
        return where
    allowed = frozenset(allowed)
    strings = frozenset(string_columns)
    try:
        tree = _parse(where)
        _check(tree, where, allowed)
        tree = tree.transform(lambda node: _quote_numbers(node, strings))
        return tree.sql(dialect=Lance)
    except RecursionError:  # sqlglot recurses once per level: "((((...1))))" ran out of stack
        raise _refuse(where, "it is nested too deeply") from None


ECHO_CHARS = 200  # of a refused filter, quoted in its message (an HTTP body may carry a megabyte)


def _refuse(where: str, reason: str) -> FilterError:
    shown = repr(where) if len(where) <= ECHO_CHARS else f"{where[:ECHO_CHARS]!r}... ({len(where):,} characters)"
    return FilterError(f"invalid filter {shown}: {' '.join(reason.split())}")


def _parse(where: str) -> exp.Expression:
    try:
        tokens = Lance().tokenize(where)
        if any(t.token_type == TokenType.SEMICOLON for t in tokens):
            raise _refuse(where, "a filter is one condition; ';' and further statements are not allowed")
        statements = [s for s in sqlglot.parse(where, read=Lance) if s is not None]
    except TokenError:
        raise _refuse(where, "it cannot be read as SQL (an unterminated 'string'?)") from None
    except ParseError as exc:
        raise _refuse(where, _syntax_reason(exc)) from None
    if len(statements) != 1:
        raise _refuse(where, "a filter is one condition")
    return statements[0]


def _syntax_reason(exc: ParseError) -> str:
    error = exc.errors[0] if exc.errors else {}
    near, col = error.get("highlight"), error.get("col")
    description = str(error.get("description") or exc).splitlines()[0]
    if "Required keyword" in description or "missing for" in description:
        description = "something is missing after it"
    where = f" near {near!r}" if near else ""
    at = f" (column {col})" if col else ""
    return f"syntax error{where}{at}: {description}"


def _check(tree: exp.Expression, where: str, allowed: frozenset[str]) -> None:
    if not isinstance(tree, exp.Condition):
        raise _refuse(where, f"a filter is one condition; {tree.key.upper()} statements are not allowed")
    if isinstance(tree, exp.Column | exp.Literal | exp.Null):
        raise _refuse(where, "it is a value, not a condition (e.g. subject = 2)")
    for node in tree.walk():
        for kind, name in _FORBIDDEN.items():
            if isinstance(node, kind):
                raise _refuse(where, f"{name} is not allowed in a filter")
    known = ", ".join(sorted(allowed))
    for column in tree.find_all(exp.Column):
        if not column.this.quoted:  # unquoted names are case-insensitive; the stored ones are lower case
            column.set("this", exp.to_identifier(column.name.lower()))
        if column.table or column.name not in allowed:
            hint = " (strings take single quotes: 'text')" if column.this.quoted and not column.table else ""
            name = ".".join(part.name for part in column.parts)
            raise _refuse(where, f"unknown column {name!r}{hint}; you can filter on: {known}")


def _number(node: exp.Expression) -> str | None:
    """The text of a numeric literal (`2`, `-2`, `2.5`), else None."""
    if isinstance(node, exp.Neg) and isinstance(node.this, exp.Literal) and not node.this.is_string:
        return "-" + node.this.this
    if isinstance(node, exp.Literal) and not node.is_string:
        return node.this
    return None


def _quoted(node: exp.Expression) -> exp.Expression:
    text = _number(node)
    return node if text is None else exp.Literal.string(text)


def _is_string_column(node: exp.Expression, strings: frozenset[str]) -> bool:
    return isinstance(node, exp.Column) and node.name in strings


def _quote_numbers(node: exp.Expression, strings: frozenset[str]) -> exp.Expression:
    if isinstance(node, _COMPARISONS):
        left, right = node.this, node.expression
        if _is_string_column(left, strings):
            node.set("expression", _quoted(right))
        elif _is_string_column(right, strings):
            node.set("this", _quoted(left))
    elif isinstance(node, exp.In) and _is_string_column(node.this, strings):
        node.set("expressions", [_quoted(v) for v in node.expressions])
    elif isinstance(node, exp.Between) and _is_string_column(node.this, strings):
        node.set("low", _quoted(node.args["low"]))
        node.set("high", _quoted(node.args["high"]))
    return node
