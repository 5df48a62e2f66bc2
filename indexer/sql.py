"""The one place values become SQL (LanceDB filters), as lancedb's `util.value_to_sql` is.

- `scope(table, encoder=, modality=, body_part=, recording=, ids=, ...)`: the store's own
  predicate from keywords; callers outside `indexer` scope their reads this way, never with SQL
  text (`IndexStore.windows(where, columns, recording="lab/a")`).
- the user's own filter (`where=`) is not made here: `indexer.schema.normalize_where` checks it
  against the columns a user may name and `indexer.filters` renders it for LanceDB.
- `where_filter(dataset=[...], at_least={"duration": 3.0})`: a user filter built from picked
  values (a front end's menus), quoted here so that no caller quotes a value itself.
"""
from __future__ import annotations

import re
from collections.abc import Iterable

import numpy as np

from indexer.errors import first_line

_NUMBERS = (int, float, np.integer, np.floating)


def _literal(value) -> str:
    if isinstance(value, _NUMBERS) and not isinstance(value, (bool, np.bool_)):
        return repr(value.item() if isinstance(value, np.generic) else value)
    return "'" + str(value).replace("'", "''") + "'"


def _values(value) -> list:
    return [value] if isinstance(value, (str, *_NUMBERS)) else list(value)


def _in(column: str, values) -> str:
    values = _values(values)
    return f"{column} IN ({', '.join(_literal(v) for v in values)})" if values else "FALSE"


def _is(column: str, value) -> str:
    """`column = value` for one value, `column IN (...)` for a list (FALSE for an empty one)."""
    return f"{column} = {_literal(value)}" if isinstance(value, (str, *_NUMBERS)) else _in(column, value)


def scope(table: str = "windows", *, encoder=None, modality=None, body_part=None, recording=None, ids=None,
          exclude_recording: str | None = None, id_range: tuple[int, int] | None = None) -> str | None:
    """The predicate over `table` that keeps the rows of `encoder` (an encoder id), `modality`,
    `body_part`, `recording` (a recording id; `id` in the recordings table) and `ids` (row ids):
    each a value or a list of values, None for any. `exclude_recording` leaves one recording
    out, `id_range` (first, last) keeps the ids between. None when nothing is asked."""
    rec = "id" if table == "recordings" else "recording_id"
    parts = [_is(column, value) for column, value in (("encoder_id", encoder), ("modality", modality),
                                                      ("body_part", body_part), (rec, recording), ("id", ids))
             if value is not None]
    if exclude_recording is not None:
        parts.append(f"{rec} != {_literal(exclude_recording)}")
    if id_range is not None:
        parts.append(f"id >= {int(id_range[0])} AND id <= {int(id_range[1])}")
    return " AND ".join(parts) or None


def all_of(*preds: str | None) -> str | None:
    """The predicates given (None ones left out) joined with AND."""
    preds = [p for p in preds if p]
    return preds[0] if len(preds) == 1 else " AND ".join(f"({p})" for p in preds) or None


def none_of(preds: Iterable[str]) -> str | None:
    preds = [f"({p})" for p in preds]
    return f"NOT ({' OR '.join(preds)})" if preds else None


def where_filter(*, at_least: dict | None = None, at_most: dict | None = None, **values) -> str | None:
    """A user filter (`where=`) from picked values: each keyword a column and the values it may
    hold (None or empty: any), `at_least` / `at_most` {column: bound}; None when nothing is
    picked. where_filter(dataset=["demo"], at_least={"duration": 3.0}) ->
    "dataset IN ('demo') AND duration >= 3.0"."""
    parts = [_in(column, v) for column, v in values.items() if v is not None and len(_values(v))]
    parts += [f"{column} >= {_literal(b)}" for column, b in (at_least or {}).items() if b is not None]
    parts += [f"{column} <= {_literal(b)}" for column, b in (at_most or {}).items() if b is not None]
    return " AND ".join(parts) or None


def refusal(table, pred: str, user: str, exc: Exception, scoped: bool) -> str:
    """Why LanceDB (`table`, a LanceDB table) refused the user's filter `user` inside the predicate
    `pred`, naming only what the user wrote; when LanceDB quoted the store's scope (`scoped`) in
    another form, the filter is asked about alone."""
    reason = lance_reason(exc, pred, user)
    if scoped and "encoder_id" in reason:
        try:
            table.search().where(user).limit(1).to_arrow()
            reason = "LanceDB could not evaluate it"
        except (ValueError, RuntimeError) as alone:
            reason = lance_reason(alone, user, user)
        if "encoder_id" in reason:
            reason = "LanceDB could not evaluate it"
    return reason


def lance_reason(exc: Exception, pred: str, user_sql: str) -> str:
    """LanceDB's complaint about a filter, on one line, with the store's part of the predicate
    taken out (it echoes the whole predicate it was given)."""
    reason = first_line(exc).replace(pred, user_sql)
    reason = re.sub(r"\s*Valid fields are .*", "", reason)
    while reason.startswith("Invalid input, "):
        reason = reason[len("Invalid input, "):]
    return reason.strip() or "LanceDB could not evaluate it"
