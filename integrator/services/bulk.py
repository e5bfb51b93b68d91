"""Writing many rows with one statement (issue 19).

:func:`insert_all` inserts new rows: on PostgreSQL through ``COPY``, which Django's
``bulk_create`` does not use. Django 5.2 sends a batch as ``INSERT ... SELECT * FROM UNNEST(...)``
with one array per column, and psycopg's client-side binding quotes every element of every array
in Python (a regular expression per value): with the compiler's own per-value work that was a
third of processing a batch of sales and a quarter of posting it (cProfile, 3,000 sales).

For updates, Django's ``bulk_update`` writes each field as a ``CASE WHEN pk = ... THEN ...`` expression over
every row of the batch: for 500 postings that is thousands of expression objects built, compiled
and parsed, about a third of the outbox's post stage. :func:`update_each` sends the same change
as the statement a person would write, a join of the table with a ``VALUES`` list on the primary
key (``UPDATE ... FROM``, PostgreSQL and SQLite 3.33+).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from functools import cache
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connection, connections, models
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import Field, Model

__all__ = ["insert_all", "update_each"]

#: Rows per statement (SQLite takes 32,766 parameters from 3.32 on).
BATCH = 500


def update_each(objs: Sequence[Model], fields: Sequence[str]) -> int:
    """Set ``fields`` of each saved object in the database to the object's own values (as
    ``Model.objects.bulk_update(objs, fields)`` does); returns the rows updated.

    One ``UPDATE table SET f = v.f ... FROM (VALUES (pk, f, ...), ...) v WHERE table.pk = v.pk``
    per :data:`BATCH` objects. Values are prepared by each field as for a save (so JSON, UUIDs and
    dates are stored exactly as ``save()`` stores them); on PostgreSQL the ``VALUES`` columns are
    cast to the columns' types, which a list of parameters cannot carry (a NULL in the first row
    would otherwise make a JSON column text).
    """
    if not objs:
        return 0
    model = type(objs[0])
    meta = model._meta
    targets: list[Field[Any, Any]] = [meta.pk, *(meta.get_field(name) for name in fields)]  # type: ignore[list-item]
    quote = connection.ops.quote_name
    postgres = connection.vendor == "postgresql"

    def column(i: int, field: Any) -> str:
        value = f"v.column{i + 1}"
        return f"CAST({value} AS {field.db_type(connection)})" if postgres else value

    table = quote(meta.db_table)
    pk_column = str(targets[0].column)
    sets = ", ".join(f"{quote(str(f.column))} = {column(i, f)}" for i, f in enumerate(targets) if i)
    where = f"{table}.{quote(pk_column)} = {column(0, targets[0])}"
    row = "(" + ", ".join(["%s"] * len(targets)) + ")"
    updated = 0
    with connection.cursor() as cur:
        for start in range(0, len(objs), BATCH):
            chunk = objs[start : start + BATCH]
            params = [
                f.get_db_prep_save(getattr(obj, f.attname), connection=connection)
                for obj in chunk
                for f in targets
            ]
            values = ", ".join([row] * len(chunk))
            cur.execute(f"UPDATE {table} SET {sets} FROM (VALUES {values}) AS v WHERE {where}", params)  # noqa: S608 - names come from the model; every value is a parameter
            updated += cur.rowcount
    return updated


#: Fields whose value psycopg writes as the column expects without the field preparing it (on
#: PostgreSQL their ``get_db_prep_save`` returns the value unchanged); the exact classes only, so a
#: subclass that encrypts or encodes (``integrator.crypto``) is always prepared.
_AS_IS: frozenset[type[Any]] = frozenset(
    {
        models.CharField,
        models.TextField,
        models.SlugField,
        models.IntegerField,
        models.BigIntegerField,
        models.SmallIntegerField,
        models.PositiveIntegerField,
        models.PositiveSmallIntegerField,
        models.PositiveBigIntegerField,
        models.BooleanField,
        models.UUIDField,
        models.DecimalField,
        models.DateField,
        models.DateTimeField,
        models.ForeignKey,
        models.OneToOneField,
    }
)
_AUTO_KEYS = (models.AutoField, models.BigAutoField, models.SmallAutoField)

#: A column's value for a row: ``(object, connection) -> value``.
_Value = Callable[[Model, BaseDatabaseWrapper], Any]


@cache
def _copy_plan(model: type[Model], numbered: bool) -> tuple[str, list[_Value], list[Any]]:
    """For :func:`insert_all`: the ``COPY`` statement of ``model``'s table, one function per column
    giving a row's value, and the model's foreign keys. Without ``numbered`` an automatic integer
    key is left out, for the database to number."""
    meta = model._meta
    fields = [
        f for f in meta.concrete_fields if numbered or not (f.primary_key and isinstance(f, _AUTO_KEYS))
    ]

    def value_of(field: Any) -> _Value:
        stamped = getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False)
        if type(field) in _AS_IS and not stamped:
            attname = field.attname
            return lambda obj, conn: getattr(obj, attname)
        return lambda obj, conn: field.get_db_prep_save(field.pre_save(obj, True), connection=conn)

    quote = connection.ops.quote_name
    columns = ", ".join(quote(str(f.column)) for f in fields)
    sql = f"COPY {quote(meta.db_table)} ({columns}) FROM STDIN"
    return sql, [value_of(f) for f in fields], [f for f in meta.concrete_fields if f.is_relation]


def insert_all(objs: Sequence[Model]) -> None:
    """Insert new objects of one model (as ``Model.objects.bulk_create(objs)`` does, without
    signals), with one ``COPY`` on PostgreSQL and ``bulk_create`` elsewhere.

    Each value is what a save stores: fields that encode (JSON, encrypted text, timestamps set on
    save) prepare it as for ``save()``, the others are written as they are. Related objects
    assigned before they had a key lend it now, as in ``bulk_create``. Objects of a model whose key
    the database numbers either come with their numbers (the audit chain takes them from the
    sequence first) or, unlike ``bulk_create``, are numbered without being told: only for rows
    nobody reads back by key (a many-to-many link). Call it inside a transaction; the database's
    checks and triggers apply to every row as for an ``INSERT``.
    """
    if not objs:
        return
    model = type(objs[0])
    conn = connections[DEFAULT_DB_ALIAS]
    if conn.vendor != "postgresql":
        model._default_manager.bulk_create(objs)
        return
    sql, values, foreign = _copy_plan(model, objs[0].pk is not None)
    for obj in objs:
        for field in foreign:
            if getattr(obj, field.attname) is None:
                related = field.get_cached_value(obj, None)
                if related is not None:
                    setattr(obj, field.attname, related.pk)

    def copy_rows(sql: str, params: Any, many: bool, context: dict[str, Any]) -> None:
        # Django's own errors (IntegrityError, DataError) as for any statement of its cursor.
        with conn.wrap_database_errors, context["cursor"].cursor.copy(sql) as copy:
            for obj in objs:
                copy.write_row(tuple(value(obj, conn) for value in values))

    # Through Django's cursor wrappers, so the statement is counted and logged as any other.
    with conn.cursor() as cur:
        logged = cur.debug_sql(sql) if hasattr(cur, "debug_sql") else contextlib.nullcontext()
        with logged:
            cur._execute_with_wrappers(sql, None, False, executor=copy_rows)
    for obj in objs:
        obj._state.adding = False
        obj._state.db = conn.alias
