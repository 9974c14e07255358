"""One prepared INSERT or UPDATE for rows a run writes by the thousand.

Django's ``bulk_create`` and ``bulk_update`` build their statements through the ORM's
compiler value by value (``bulk_update`` with a CASE per column and row): for an
export's ledger lines and a run's row results that was most of the time Linx spent
above the requests themselves. These send one statement with every row's values
(``executemany``: SQLite runs it in a C loop, psycopg pipelines it). Values are
prepared as their fields prepare them (JSON encoded, dates and times adapted), and only
for the fields whose values need it (a JSON value given as `EncodedJSON` text is not
encoded again); the rest go as they are. No model signals are sent, as with
``bulk_create``. `loaded` makes model instances from rows read by the thousand without
the model's constructor, for the same reason.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import datetime
from typing import Any

from django.db import connection, models
from django.db.models.base import ModelState

_PREPARED = (models.JSONField, models.DateField, models.DecimalField)  # DateTimeField too


def _preparers(model: type[models.Model], names: Sequence[str]) -> list[Callable | None]:
    out: list[Callable | None] = []
    for name in names:
        field = model._meta.get_field(name)
        if isinstance(field, models.DateTimeField):
            out.append(_prepare_moment(field))
        else:
            out.append(_prepare(field) if isinstance(field, _PREPARED) else None)
    return out


def _prepare_moment(field: models.DateTimeField) -> Callable[[Any], Any]:
    """A timestamp with its time zone (as every row's is) goes straight to the database's
    adapter: the field's own preparation leaves one as it is before handing it there."""
    slow = _prepare(field)
    adapt = connection.ops.adapt_datetimefield_value
    last: list[Any] = [_prepare, None]  # the last one (by identity) and its adapted form

    def prepare(value: Any) -> Any:
        if value is last[0]:  # a batch's one timestamp, on each of its rows
            return last[1]
        if type(value) is datetime and value.utcoffset() is not None:
            last[:] = [value, adapt(value)]
            return last[1]
        return slow(value)  # naive, a date, None or an expression: as the field does

    return prepare


class EncodedJSON:
    """A JSON field's value given as its JSON text: sent as it is, not encoded again."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text


class _AsEncoded(json.JSONEncoder):
    """Hands an `EncodedJSON`'s text to the database's JSON adapter as it is."""

    def encode(self, o: Any) -> str:
        return o.text if isinstance(o, EncodedJSON) else super().encode(o)


def _prepare(field: models.Field) -> Callable[[Any], Any]:
    """The field's own preparation; the same object again (a batch's one timestamp)
    is prepared once, and so is a value with nothing in it (None, an empty mapping or
    list: a row's "no changes"), which every row of a no-change run holds as a new
    object."""
    last: list[Any] = [_prepare, None]  # the last value (by identity) and its prepared form
    empty: dict[type, Any] = {}  # type of an empty value (None's too) → its prepared form

    def prepare(value: Any) -> Any:
        if value is last[0]:
            return last[1]
        kind = type(value)
        if kind is EncodedJSON:
            return connection.ops.adapt_json_value(value, _AsEncoded)
        if kind in _EMPTY and not value:
            if kind not in empty:
                empty[kind] = field.get_db_prep_save(value, connection)
            return empty[kind]
        last[:] = [value, field.get_db_prep_save(value, connection)]
        return last[1]

    return prepare


#: The types whose empty value (and None) is prepared once per batch: nothing in them
#: can differ from one such value to the next.
_EMPTY = frozenset({type(None), dict, list})


def _columns(model: type[models.Model], names: Sequence[str]) -> list[str]:
    quote = connection.ops.quote_name
    return [quote(model._meta.get_field(name).column) for name in names]


def _prepared(preparers: list[Callable | None], rows: Iterable[Sequence[Any]]) -> list[tuple]:
    # Only the columns that need it are touched (a row's other values go as they are):
    # walking every value of every row was most of this.
    width = len(preparers)
    todo = [(index, prep) for index, prep in enumerate(preparers) if prep is not None]
    out = []
    for row in rows:
        if len(row) != width:
            raise ValueError(f"a row of {len(row)} values for {width} columns")
        if todo:
            values = list(row)
            for index, prep in todo:
                values[index] = prep(values[index])
            row = tuple(values)
        out.append(tuple(row))
    return out


def insert(model: type[models.Model], names: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    """INSERT ``rows`` (each one value per field named in ``names``) into ``model``'s table."""
    rows = _prepared(_preparers(model, names), rows)
    if rows:
        columns = ", ".join(_columns(model, names))
        values = ", ".join(["%s"] * len(names))
        _send(f"INSERT INTO {_table(model)} ({columns}) VALUES ({values})", rows)  # noqa: S608


def update(model: type[models.Model], names: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    """UPDATE ``model``'s rows: each of ``rows`` is its values for ``names``, then its pk."""
    rows = _prepared([*_preparers(model, names), None], rows)
    if rows:
        assignments = ", ".join(f"{column} = %s" for column in _columns(model, names))
        pk = connection.ops.quote_name(model._meta.pk.column)
        _send(f"UPDATE {_table(model)} SET {assignments} WHERE {pk} = %s", rows)  # noqa: S608


def _where_in(
    model: type[models.Model], key: str, keys: Sequence[Any], equal: dict[str, Any]
) -> Iterator[tuple[str, str, list]]:
    """For each slice of 500 ``keys``: ``key``'s column, the WHERE clause matching the
    slice and ``equal``'s values (plain values, no lookups), and its parameters."""
    column, *where = _columns(model, [key, *equal])
    for start in range(0, len(keys), 500):
        part = list(keys[start : start + 500])
        conditions = [f"{name} = %s" for name in where]
        conditions.append(f"{column} IN ({', '.join(['%s'] * len(part))})")
        yield column, " AND ".join(conditions), [*equal.values(), *part]


def pks_by(model: type[models.Model], key: str, keys: Sequence[Any], **equal: Any) -> dict:
    """``{key's value: pk}`` of ``model``'s rows whose ``key`` is one of ``keys`` and
    whose fields named in ``equal`` hold those values (plain values, no lookups)."""
    pk = connection.ops.quote_name(model._meta.pk.column)
    found: dict = {}
    with connection.cursor() as cursor:
        for column, where, params in _where_in(model, key, keys, equal):
            sql = f"SELECT {column}, {pk} FROM {_table(model)} WHERE {where}"  # noqa: S608
            cursor.execute(sql, params)
            found.update(cursor.fetchall())
    return found


def delete(model: type[models.Model], key: str, keys: Sequence[Any], **equal: Any) -> int:
    """DELETE ``model``'s rows whose ``key`` is one of ``keys`` and whose fields named
    in ``equal`` hold those values (plain values); how many were deleted. For a model
    no other row points at and no signal watches: none is sent, as with the ORM's
    fast delete (which builds the same statement value by value)."""
    deleted = 0
    with connection.cursor() as cursor:
        for _, where, params in _where_in(model, key, keys, equal):
            cursor.execute(f"DELETE FROM {_table(model)} WHERE {where}", params)  # noqa: S608
            deleted += max(cursor.rowcount, 0)
    return deleted


def _table(model: type[models.Model]) -> str:
    return connection.ops.quote_name(model._meta.db_table)


def _send(sql: str, rows: list[tuple]) -> None:
    # Table and column names come from the model, quoted; every value is a parameter.
    with connection.cursor() as cursor:
        cursor.executemany(sql, rows)


def loaded[M: models.Model](model: type[M], names: Sequence[str], values, db: str) -> M:
    """An instance as a query reading only ``names`` makes it (the rest deferred: read
    from the database on first use), without the model's constructor, which sets each
    value through its field's descriptor and sends two signals: most of what loading a
    company's thousands of mappings, or a big week's ledger lines, cost."""
    instance = model.__new__(model)
    instance._state = ModelState()
    instance._state.adding = False
    instance._state.db = db
    instance.__dict__.update(zip(names, values, strict=True))
    return instance
