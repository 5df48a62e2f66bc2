"""User filters (--where): indexer.filters parses them with sqlglot, checks them and renders SQL
that LanceDB accepts; IndexStore applies them without ever showing its own predicates."""
from __future__ import annotations

import lancedb
import numpy as np
import pyarrow as pa
import pytest
from test_store import ENC, recording_row, unit_vectors, window_rows

from indexer import sql
from indexer.filters import normalize_where as parse_filter
from indexer.schema import FILTER_COLUMNS, normalize_where
from indexer.store import IndexStore

WINDOW_COLUMNS = FILTER_COLUMNS["windows"]
STRINGS = {"subject", "trial", "label", "dataset"}


def norm(where: str) -> str:
    return parse_filter(where, WINDOW_COLUMNS, STRINGS)


# ----------------------------------------------------------------------------- numbers on string columns


@pytest.mark.parametrize("where, sql", [
    ("subject = 2", "subject = '2'"),
    ("subject >= 2", "subject >= '2'"),
    ("subject < 2 OR subject > 4", "subject < '2' OR subject > '4'"),
    ("subject <= 2", "subject <= '2'"),
    ("subject <> 2", "subject != '2'"),
    ("subject IN (2, 4)", "subject IN ('2', '4')"),
    ("subject NOT IN (2, '4')", "NOT subject IN ('2', '4')"),
    ("2 = subject", "'2' = subject"),
    ("2 <= subject", "'2' <= subject"),
    ("subject BETWEEN 2 AND 4", "subject BETWEEN '2' AND '4'"),
    ("subject NOT BETWEEN -2 AND 4.5", "NOT subject BETWEEN '-2' AND '4.5'"),
    ("t_start >= 2 AND (subject = 1 OR SUBJECT = 3)", "t_start >= 2 AND (subject = '1' OR subject = '3')"),
    ("t_start >= 2 AND t_end < 10", "t_start >= 2 AND t_end < 10"),  # numeric columns keep numbers
])
def test_numbers_compared_with_string_columns_are_quoted(where, sql):
    assert norm(where) == sql


@pytest.mark.parametrize("where", [
    "label = 'subject = 2'",  # the regular expressions used to rewrite text inside strings
    "label = 'it''s subject IN (1, 2)'",
    "subject = '2'",
    "label LIKE 'trial%'",
])
def test_string_literals_are_never_touched(where):
    assert norm(where) == where


def test_a_caller_declares_its_string_columns():
    assert parse_filter("label = 3", WINDOW_COLUMNS) == "label = 3"  # default: subject and trial only
    assert parse_filter("label = 3", WINDOW_COLUMNS, {"label"}) == "label = '3'"
    assert parse_filter("trial != 3", ["trial"]) == "trial != '3'"


def test_an_empty_filter_passes_through():
    assert norm("") == "" and parse_filter(None, WINDOW_COLUMNS) is None


# ----------------------------------------------------------------------------- refusals, one line each


@pytest.mark.parametrize("where, column", [
    ("vector IS NULL", "vector"),
    ("encoder_id = 'x'", "encoder_id"),
    ("id < 5", "id"),
    ("subject = 2 AND subjct = 3", "subjct"),
    ("windows.subject = 2", "windows.subject"),
])
def test_columns_a_user_may_not_filter_on_are_refused_by_name(where, column):
    with pytest.raises(ValueError) as info:
        norm(where)
    msg = str(info.value)
    assert "\n" not in msg and msg.startswith(f"invalid filter {where!r}: unknown column {column!r}")
    assert msg.endswith("you can filter on: " + ", ".join(sorted(WINDOW_COLUMNS)))


def test_a_double_quoted_string_is_a_column_and_the_message_says_so():
    with pytest.raises(ValueError, match=r"unknown column '2' \(strings take single quotes"):
        norm('subject = "2"')


@pytest.mark.parametrize("where, reason", [
    ("1=1; DROP TABLE windows", "';' and further statements are not allowed"),
    ("subject = 2;", "';' and further statements are not allowed"),
    ("DROP TABLE windows", "DROP statements are not allowed"),
    ("SELECT * FROM windows", "SELECT statements are not allowed"),
    ("subject IN (SELECT subject FROM windows)", "a subquery is not allowed"),
    ("EXISTS (SELECT 1)", "a subquery is not allowed"),
    ("subject", "it is a value, not a condition"),
])
def test_anything_but_one_condition_is_refused(where, reason):
    with pytest.raises(ValueError) as info:
        norm(where)
    msg = str(info.value)
    assert "\n" not in msg and msg.startswith(f"invalid filter {where!r}: ") and reason in msg


@pytest.mark.parametrize("where, reason", [
    ("subject = = 2", "syntax error near '=' (column 11)"),
    ("label LIKE", "syntax error near 'LIKE'"),
    ("(subject = 2", "syntax error"),
    ("label = 'unterminated", "cannot be read as SQL"),
])
def test_a_syntax_error_is_one_line_naming_the_filter(where, reason):
    with pytest.raises(ValueError) as info:
        norm(where)
    msg = str(info.value)
    assert "\n" not in msg and "\x1b" not in msg  # sqlglot's own message is multi-line and coloured
    assert msg.startswith(f"invalid filter {where!r}: ") and reason in msg


def test_a_filter_nested_too_deeply_or_very_long_is_refused_in_a_short_line():
    deep = "(" * 5000 + "subject = 1" + ")" * 5000  # sqlglot recurses per level: a RecursionError before
    with pytest.raises(ValueError, match="nested too deeply") as err:
        parse_filter(deep, ["subject"])
    assert len(str(err.value)) < 400 and "(10,011 characters)" in str(err.value)
    with pytest.raises(ValueError, match="unknown column 'colour'") as err:
        parse_filter("colour = '" + "x" * 100_000 + "'", ["subject"])
    assert len(str(err.value)) < 400  # the filter is quoted up to 200 characters, not echoed whole


def test_the_store_normalizes_for_either_table():
    assert normalize_where("trial = 1 AND subject = 2") == "trial = '1' AND subject = '2'"
    assert normalize_where("dataset = 5", "windows") == "dataset = '5'"  # every string column of the table
    with pytest.raises(ValueError, match="unknown column 'trial'"):
        normalize_where("trial = 1", "windows")
    with pytest.raises(ValueError, match="unknown column 'label'"):
        normalize_where("label = 'x'", "recordings")


# ----------------------------------------------------------------------------- the SQL LanceDB reads


@pytest.fixture(scope="module")
def plain_table(tmp_path_factory):
    db = lancedb.connect(tmp_path_factory.mktemp("lance"))
    return db.create_table("t", pa.table({
        "subject": ["1", "2", "3", "4"],
        "t_start": [0.0, 1.0, 2.0, 3.0],
        "label": ["walk", "it's", "subject = 2", "run fast"],
        "labels": [["walk"], ["run"], ["walk", "fast"], []],
    }))


@pytest.mark.parametrize("where, subjects", [
    ("subject >= 2", ["2", "3", "4"]),
    ("subject IN (2, 4)", ["2", "4"]),
    ("subject NOT IN (2, 4)", ["1", "3"]),
    ("2 = subject", ["2"]),
    ("subject <> 2", ["1", "3", "4"]),
    ("subject BETWEEN 2 AND 3", ["2", "3"]),
    ("subject NOT BETWEEN 2 AND 3", ["1", "4"]),
    ("label = 'subject = 2'", ["3"]),
    ("label = 'it''s'", ["2"]),  # '' escapes (Spark/Hive/BigQuery output would write \\')
    ("`subject` = 1", ["1"]),  # backtick identifiers, LanceDB's documented quoting, are read
    ('"subject" = 1', ["1"]),
    ("subject IS NOT NULL AND t_start > -1", ["1", "2", "3", "4"]),
    ("CAST(subject AS INT) >= 3", ["3", "4"]),
    ("CAST(t_start AS TEXT) = '1.0'", ["2"]),  # LanceDB refuses TEXT and VARCHAR: written STRING
    ("CAST(t_start AS VARCHAR) = '1.0'", ["2"]),
    ("array_has(labels, 'walk')", ["1", "3"]),
    ("array_contains(labels, 'walk')", ["1", "3"]),
    ("array_has_any(labels, ['walk', 'run'])", ["1", "2", "3"]),
    ("array_has_all(labels, ['walk', 'fast'])", ["3"]),  # DuckDB output would be the unsupported @>
    ("regexp_like(label, '^r')", ["4"]),  # ... and REGEXP_MATCHES, unknown to LanceDB
    ("label ILIKE 'WALK' OR label NOT LIKE '%a%'", ["1", "2", "3"]),
    ("lower(label) = 'walk' OR NOT (t_start < 3)", ["1", "4"]),
])
def test_the_rendered_sql_runs_on_a_real_lancedb_table(plain_table, where, subjects):
    sql = parse_filter(where, ["subject", "t_start", "label", "labels"], {"subject", "label"})
    got = plain_table.search().where(sql).limit(None).to_arrow()["subject"].to_pylist()
    assert sorted(got) == subjects, sql


# ----------------------------------------------------------------------------- through IndexStore


@pytest.fixture
def store(tmp_path) -> IndexStore:
    """Three recordings of subjects 1, 2 and 3, four IMU windows each (ids 0..11)."""
    s = IndexStore(tmp_path / "index", create=True)
    vecs = unit_vectors(12)
    for n, (rec, subject) in enumerate([("lab/a", "1"), ("lab/b", "2"), ("lab/c", "3")]):
        s.commit(window_rows(rec, subject, 4 * n, vecs[4 * n : 4 * n + 4]), [recording_row(rec, subject)],
                 [(rec, ENC, 4)])
    return s


def test_where_subject_at_least_2_returns_exactly_those_rows(store):
    windows = store.windows("subject >= 2")
    assert sorted(windows["id"].to_list()) == list(range(4, 12))
    assert set(windows["subject"].to_list()) == {"2", "3"}
    ids, _ = store.vectors(ENC, "imu", "subject >= 2 AND t_start >= 2")
    assert sorted(ids.tolist()) == [6, 7, 10, 11]
    assert sorted(store.recordings("subject >= 2")["id"].to_list()) == ["lab/b", "lab/c"]
    assert store.recordings("2 <= subject AND trial = 1 AND array_has(labels, 'walk')").height == 2
    assert store.windows("label = 'subject = 2'").height == 0  # a string, not a condition on subject
    assert store.windows("label = 'label of lab/c'")["recording_id"].unique().to_list() == ["lab/c"]


def test_the_stores_own_scope_goes_apart_from_the_users_filter(store):
    scope = sql.scope(encoder=ENC, modality="imu")
    assert sorted(store.windows("subject >= 2", scope=scope)["id"].to_list()) == list(range(4, 12))
    assert store.windows("subject < 3", scope=f"{scope} AND recording_id != 'lab/a'")["subject"].unique().to_list() == ["2"]
    assert store.windows(None, scope=f"{scope} AND recording_id = 'lab/a'").height == 4  # query.locator's scope
    assert store.windows(None, scope="id = 5")["id"].to_list() == [5]  # query.api.search_window
    assert store.windows("subject = 2", scope=scope).height == 4
    with pytest.raises(ValueError, match="unknown column 'encoder_id'"):  # a user cannot pass the scope as a filter
        store.windows(f"{scope} AND (subject >= 2)")


@pytest.mark.parametrize("where, reason", [
    ("subjct = 2", "unknown column 'subjct'"),
    ("vector IS NULL", "unknown column 'vector'"),
    ("encoder_id = 'x'", "unknown column 'encoder_id'"),
    ("t_start = 'abc'", "could not convert"),  # refused by LanceDB itself, which echoes the predicate
    ("label LIKE 5", "LIKE"),
    ("nosuch(label)", "Invalid function 'nosuch'"),
    ("subject = 2) OR (encoder_id = 'x'", "syntax error"),  # no way out of the parentheses
])
def test_a_bad_filter_names_only_what_the_user_wrote(store, where, reason):
    scope = sql.scope(encoder=ENC, modality="imu")
    calls = [lambda: store.windows(where), lambda: store.windows(where, scope=scope),
             lambda: store.admitted_ids(where, scope), lambda: store.vectors(ENC, "imu", where)]
    for call in calls:
        with pytest.raises(ValueError) as info:
            call()
        msg = str(info.value)
        assert msg.startswith(f"invalid filter {where!r}: ") and reason in msg
        assert "\n" not in msg and ".rs:" not in msg
        assert ENC not in msg and "modality = 'imu'" not in msg  # the store's own predicate never shows
        assert "Valid fields" not in msg  # LanceDB's list of every column, internal ones included


def test_recordings_refuse_the_window_columns_and_internal_ones(store):
    with pytest.raises(ValueError, match="unknown column 'label'; you can filter on: dataset, duration, id, labels"):
        store.recordings("label = 'walk'")
    with pytest.raises(ValueError, match="unknown column 'vector'"):
        store.recordings("vector IS NULL")


# ----------------------------------------------------------------------------- keyword scopes (indexer.sql)


def test_values_become_sql_in_one_place():
    assert sql.scope(encoder="e'1", modality="imu") == "encoder_id = 'e''1' AND modality = 'imu'"
    assert sql.scope("recordings", recording=["a", "b"]) == "id IN ('a', 'b')"
    assert sql.scope(ids=np.array([3, 4]), exclude_recording="x") == "id IN (3, 4) AND recording_id != 'x'"
    assert sql.scope(body_part=None) is None
    assert sql.where_filter(dataset=["demo"], subject=[], at_least={"duration": 3.0}, at_most={"duration": None}) == \
        "dataset IN ('demo') AND duration >= 3.0"
    assert sql.where_filter(label=None) is None


def test_the_store_is_scoped_by_keyword(store):
    assert sorted(store.windows("subject >= 2", encoder=ENC, modality="imu")["id"].to_list()) == list(range(4, 12))
    assert store.windows(None, ["id"], recording="lab/a").height == 4
    assert store.windows(None, ["id"], recording=["lab/a", "lab/b"], exclude_recording="lab/b").height == 4
    assert store.windows(None, ["id"], ids=5)["id"].to_list() == [5]
    assert store.windows(None, ["id"], recording=[]).height == 0  # an empty list admits nothing
    assert store.count("windows", encoder=ENC, body_part="right_wrist") == 12
    assert store.recordings(None, ["id"], recording="lab/c")["id"].to_list() == ["lab/c"]
    assert store.admitted_ids("subject = 2", encoder=ENC, modality="imu", recording="lab/b").tolist() == [4, 5, 6, 7]
    with pytest.raises(ValueError, match="unknown column 'encoder_id'"):  # keywords are the store's, not the user's
        store.windows("encoder_id = 'x'", encoder=ENC)
