"""Writing many rows' own values with one statement (issue 19).

Django's ``bulk_update`` writes each field as a ``CASE WHEN pk = ... THEN ...`` expression over
every row of the batch: for 500 postings that is thousands of expression objects built, compiled
and parsed, about a third of the outbox's post stage. :func:`update_each` sends the same change
as the statement a person would write, a join of the table with a ``VALUES`` list on the primary
key (``UPDATE ... FROM``, PostgreSQL and SQLite 3.33+).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.db import connection
from django.db.models import Field, Model

__all__ = ["update_each"]

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
