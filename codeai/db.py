"""Fewer round trips to the database, for the hot paths (a workflow step, a job, a delivery).

* `write_together()` writes the rows a step of work changed (say a workflow step, the next
  step, the run, its history and its events) as one data-modifying `WITH` statement on
  PostgreSQL, optionally as a compare-and-set on one of them; one ORM statement each elsewhere.
  The rows are model instances either way, so the values are the ones the ORM would write
  (`get_db_prep_save`).
* `fetch_sets()` sends several statements as one query string, and can let a claim commit
  without waiting for the WAL flush.
* `select_columns()` and `instance_from_row()` read rows by hand and load them as the ORM would.
"""

from collections.abc import Collection, Sequence
from functools import lru_cache
from itertools import groupby
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connection, connections
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import AutoField, Model


def write_together(
    *,
    updates: Sequence[tuple[Model, Collection[str]]] = (),
    inserts: Sequence[Model] = (),
    guard: tuple[Model, str, Any] | None = None,
) -> bool:
    """Update `fields` of each instance (by primary key) and insert `inserts`, in the caller's
    transaction: one statement on PostgreSQL, one ORM statement per model or row elsewhere.

    `guard` (PostgreSQL only), `(instance, field, expected)`: write nothing unless that row's
    `field` still holds `expected`, checked under the row's lock in the same statement (a
    compare-and-set); the instance must be among `updates`. Returns whether it wrote.

    Each instance must appear at most once in `updates` (a statement cannot change one row
    twice). Inserted rows get no primary key back, so models with a database-generated key
    suit this only when nothing reads the key afterwards.
    """
    updates = [(instance, fields) for instance, fields in updates if fields]
    if guard is not None and connection.vendor != "postgresql":
        raise ValueError("a guarded write needs PostgreSQL")
    if not updates and not inserts:
        return True
    if connection.vendor != "postgresql":
        for instance, fields in updates:
            instance.save(update_fields=list(fields))
        for model, rows in groupby(inserts, key=type):
            model.objects.bulk_create(list(rows))
        return True
    parts: list[str] = []
    params: list = []
    condition = ""
    if guard is not None:
        instance, name, expected = guard
        fields = next(fields for row, fields in updates if row is instance)
        field = instance._meta.get_field(name)
        sql, values = _update_sql(instance, fields)
        parts.append(f"guard AS ({sql} AND {_quote(field.column)} = %s RETURNING 1)")
        params += [*values, field.get_db_prep_value(expected, connection)]
        updates = [(row, fields) for row, fields in updates if row is not instance]
        condition = "EXISTS (SELECT 1 FROM guard)"
    for instance, fields in updates:
        sql, values = _update_sql(instance, fields)
        parts.append(f"u{len(parts)} AS ({sql}{f' AND {condition}' if condition else ''})")
        params += values
    for model, rows in groupby(inserts, key=type):
        sql, values = _insert_sql(model, list(rows), condition)
        parts.append(f"i{len(parts)} AS ({sql})")
        params += values
    result = "SELECT count(*) FROM guard" if guard is not None else "SELECT 1"
    with _server_bound_cursor() as cursor:
        cursor.execute(f"WITH {', '.join(parts)} {result}", params)
        return bool(cursor.fetchone()[0])


def _server_bound_cursor():
    """A cursor on Django's connection (same transaction, same error wrapping and query log)
    that binds parameters on the server instead of in the query text, as Django's default
    cursor does. The text of a statement is then the same every time, and psycopg prepares it
    once it has run `prepare_threshold` (5) times on the connection: no parsing and planning
    per call, which for these `WITH` statements is most of PostgreSQL's work."""
    from django.db.backends.postgresql.base import ServerBindingCursor

    connection.close_if_health_check_failed()
    connection.ensure_connection()
    with connection.wrap_database_errors:
        cursor = ServerBindingCursor(connection.connection)
    if connection.queries_logged:
        return connection.make_debug_cursor(cursor)
    return connection.make_cursor(cursor)


def _quote(name: str) -> str:
    return connection.ops.quote_name(name)


def _update_sql(instance: Model, names: Collection[str]) -> tuple[str, list]:
    meta = instance._meta
    fields = [meta.get_field(name) for name in names]
    assignments = ", ".join(f"{_quote(field.column)} = %s" for field in fields)
    values = [
        field.get_db_prep_save(field.pre_save(instance, False), connection) for field in fields
    ]
    pk = meta.pk
    values.append(pk.get_db_prep_value(instance.pk, connection))
    table = _quote(meta.db_table)
    return f"UPDATE {table} SET {assignments} WHERE {_quote(pk.column)} = %s", values


def _insert_sql(model: type[Model], rows: list[Model], condition: str) -> tuple[str, list]:
    fields = [
        field
        for field in model._meta.concrete_fields
        if not (isinstance(field, AutoField) and field.primary_key)
    ]
    columns = ", ".join(_quote(field.column) for field in fields)
    # Typed placeholders: under a condition the VALUES list is a subquery, which does not take
    # its column types from the table.
    row_sql = "(" + ", ".join(f"%s::{field.cast_db_type(connection)}" for field in fields) + ")"
    values = [
        field.get_db_prep_save(field.pre_save(row, True), connection)
        for row in rows
        for field in fields
    ]
    table = _quote(model._meta.db_table)
    rows_sql = f"VALUES {', '.join([row_sql] * len(rows))}"
    if condition:
        rows_sql = f"SELECT * FROM ({rows_sql}) AS v WHERE {condition}"
    return f"INSERT INTO {table} ({columns}) {rows_sql}", values


def fetch_all(sql: str, params: Sequence | dict, *, durable: bool = True) -> list[tuple]:
    """Run one statement and return its rows; `durable` as for `fetch_sets`."""
    return fetch_sets([(sql, params)], durable=durable)[0]


def fetch_sets(
    statements: Sequence[tuple[str, Sequence | dict]], *, durable: bool = True
) -> list[list[tuple]]:
    """Run statements (each returning rows) in order and return each one's rows. On PostgreSQL
    they travel as one query string (psycopg's client-side binding, Django's default): one
    round trip and, outside the caller's transaction, one implicit transaction, so a failure
    undoes them all.

    `durable=False` is for a write whose loss in a PostgreSQL crash only redoes work: a claim,
    which the work's completion (a durable write) checks again. Run on their own (autocommit),
    the statements then commit without waiting for the WAL flush (`synchronous_commit` off for
    that transaction only); their changes are visible at once like any commit, and the next
    durable commit flushes them too. Inside the caller's transaction it changes nothing.
    """
    if connection.vendor != "postgresql":
        results = []
        with connection.cursor() as cursor:
            for sql, params in statements:
                cursor.execute(sql, params)
                results.append(cursor.fetchall())
        return results
    texts = [sql for sql, _ in statements]
    params: Sequence | dict = statements[0][1] if len(statements) == 1 else []
    if len(statements) > 1:
        for _, values in statements:
            if isinstance(values, dict):
                raise ValueError("several statements take positional parameters only")
            params += values
    lazily = not durable and not connection.in_atomic_block
    if len(statements) == 1 and not lazily:
        with _server_bound_cursor() as cursor:
            cursor.execute(texts[0], params)
            return [cursor.fetchall()]
    if lazily:
        texts.insert(0, "SET LOCAL synchronous_commit TO off")
    with connection.cursor() as cursor:
        cursor.execute("; ".join(texts), params)
        if lazily:
            cursor.nextset()
        results = [cursor.fetchall()]
        while cursor.nextset():
            results.append(cursor.fetchall())
    return results


def lazy_commit_cte(*, durable: bool) -> str | None:
    """`fetch_sets(durable=False)` for a single `WITH` statement, which can then be prepared: a
    CTE named `lazy_commit` to add to it, which its final SELECT must join (only a CTE that is
    read is run). It sets `synchronous_commit` off for the statement's own transaction, as
    `SET LOCAL` does. None when durable, inside the caller's transaction, or not PostgreSQL."""
    if durable or connection.vendor != "postgresql" or connection.in_atomic_block:
        return None
    return "lazy_commit AS (SELECT set_config('synchronous_commit', 'off', true))"


def select_columns(model: type[Model], alias: str) -> str:
    """`alias.column, …` for every concrete field of `model`, in `instance_from_row` order."""
    quote = connection.ops.quote_name
    return ", ".join(f"{alias}.{quote(field.column)}" for field in model._meta.concrete_fields)


def instance_from_row(model: type[Model], values: Sequence) -> Model:
    """The instance the ORM would load from `values` (a row's `select_columns` slice): each value
    goes through the converters the ORM applies (JSON decoding, SQLite's datetimes)."""
    db = connections[DEFAULT_DB_ALIAS]
    names, conversions = _row_loader(model, db)
    values = list(values)
    for index, converters, column in conversions:
        value = values[index]
        for converter in converters:
            value = converter(value, column, db)
        values[index] = value
    return model.from_db(db.alias, names, values)


@lru_cache(maxsize=64)
def _row_loader(model: type[Model], db: BaseDatabaseWrapper) -> tuple[list[str], list[tuple]]:
    """The field names of a row, and the converters of the fields that have any."""
    fields = model._meta.concrete_fields
    conversions = []
    for index, field in enumerate(fields):
        column = field.get_col(model._meta.db_table)
        converters = db.ops.get_db_converters(column) + field.get_db_converters(db)
        if converters:
            conversions.append((index, converters, column))
    return [field.attname for field in fields], conversions
