"""One prepared INSERT or UPDATE for rows a run writes by the thousand.

Django's ``bulk_create`` and ``bulk_update`` build their statements through the ORM's
compiler value by value (``bulk_update`` with a CASE per column and row): for an
export's ledger lines and a run's row results that was most of the time Linx spent
above the requests themselves. These send one statement with every row's values
(``executemany``: SQLite runs it in a C loop, psycopg pipelines it). Values are
prepared as their fields prepare them (JSON encoded, dates and times adapted), and only
for the fields whose values need it; the rest go as they are. No model signals are
sent, as with ``bulk_create``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

from django.db import connection, models

_PREPARED = (models.JSONField, models.DateField, models.DecimalField)  # DateTimeField too


def _preparers(model: type[models.Model], names: Sequence[str]) -> list[Callable | None]:
    out: list[Callable | None] = []
    for name in names:
        field = model._meta.get_field(name)
        if isinstance(field, _PREPARED):
            out.append(lambda value, f=field: f.get_db_prep_save(value, connection))
        else:
            out.append(None)
    return out


def _columns(model: type[models.Model], names: Sequence[str]) -> list[str]:
    quote = connection.ops.quote_name
    return [quote(model._meta.get_field(name).column) for name in names]


def _prepared(preparers: list[Callable | None], rows: Iterable[Sequence[Any]]) -> list[tuple]:
    return [
        tuple(value if prep is None else prep(value) for prep, value in zip(preparers, row))
        for row in rows
    ]


def insert(model: type[models.Model], names: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    """INSERT ``rows`` (each one value per field named in ``names``) into ``model``'s table."""
    rows = _prepared(_preparers(model, names), rows)
    if not rows:
        return
    sql = (
        f"INSERT INTO {connection.ops.quote_name(model._meta.db_table)} "
        f"({', '.join(_columns(model, names))}) VALUES ({', '.join(['%s'] * len(names))})"
    )
    with connection.cursor() as cursor:
        cursor.executemany(sql, rows)


def update(model: type[models.Model], names: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    """UPDATE ``model``'s rows: each of ``rows`` is its values for ``names``, then its pk."""
    rows = _prepared([*_preparers(model, names), None], rows)
    if not rows:
        return
    assignments = ", ".join(f"{column} = %s" for column in _columns(model, names))
    sql = (
        f"UPDATE {connection.ops.quote_name(model._meta.db_table)} SET {assignments} "
        f"WHERE {connection.ops.quote_name(model._meta.pk.column)} = %s"
    )
    with connection.cursor() as cursor:
        cursor.executemany(sql, rows)
