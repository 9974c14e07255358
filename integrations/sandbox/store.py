"""The SQLite state of a sandbox: records as JSON by kind, a key-value table, ids."""

from __future__ import annotations

import json
import re
import sqlite3
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

#: A field name safe to splice into SQL (`json_extract(body, '$.<name>')`).
_FIELD_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def utc_now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def iso_z(moment: datetime) -> str:
    """`2026-01-05T08:00:00Z`: the one timestamp format both sandboxes store (sortable as text)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def field_sql(name: str) -> str:
    """The SQL expression of a top-level JSON field of a record (indexes use the same text)."""
    if not _FIELD_NAME.match(name):
        raise ValueError(f"not a field name: {name!r}")
    return f"json_extract(body, '$.{name}')"


# --- State ------------------------------------------------------------------------------


class Store:
    """One sandbox's records as JSON documents in its own SQLite file, shared by threads.

    A record is (kind, id, scope, body): `scope` is the company, project or account it
    belongs to, so lists are `WHERE kind = ? AND scope = ?` pages with LIMIT/OFFSET and
    nothing is held in memory beyond the page asked for.
    """

    SCHEMA = f"""
        CREATE TABLE IF NOT EXISTS records (
            kind TEXT NOT NULL, id INTEGER NOT NULL, scope INTEGER, body TEXT NOT NULL,
            PRIMARY KEY (kind, id));
        CREATE INDEX IF NOT EXISTS records_scope ON records (kind, scope, id);
        -- Uniqueness checks (ExakTime's identifier and name); `id` last so that the
        -- planner picks these over records_scope for an ORDER BY id query.
        CREATE INDEX IF NOT EXISTS records_identifier_id
            ON records (kind, scope, {field_sql("identifier")}, id);
        CREATE INDEX IF NOT EXISTS records_name_id ON records (kind, scope, {field_sql("name")}, id);
        CREATE TABLE IF NOT EXISTS kv (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    """

    def __init__(self, path: str | Path, *, id_bases: dict[str, int] | None = None, schema=""):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.id_bases = id_bases or {}
        self._lock = threading.RLock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(self.SCHEMA + schema)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Hold the store for a read-check-write that must not interleave with another."""
        with self._lock:
            if self._db.in_transaction:  # nested: the outer block commits
                yield
                return
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def execute(self, sql: str, params: Iterable[Any] = ()) -> list[tuple]:
        """Run SQL on the sandbox's own extra tables (tokens, ...)."""
        with self._lock:
            return self._db.execute(sql, tuple(params)).fetchall()

    def snapshot(self) -> sqlite3.Connection:
        """Every table copied into memory, for `restore`."""
        copy = sqlite3.connect(":memory:", check_same_thread=False)
        with self._lock:
            self._db.backup(copy)
        return copy

    def restore(self, snapshot: sqlite3.Connection) -> None:
        """Every table back as it was when `snapshot` was taken (a page copy: no SQL replayed)."""
        with self._lock:
            snapshot.backup(self._db)

    def wipe(self) -> None:
        """Empty every table (a reset)."""
        with self.transaction():
            tables = self._db.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table'"
            ).fetchall()
            for (table,) in tables:
                self._db.execute(f'DELETE FROM "{table}"')  # noqa: S608 (names from sqlite_master)

    # key/value settings (generation options, API keys, ...)
    def kv_get(self, key: str, default: Any = None) -> Any:
        rows = self.execute("SELECT value FROM kv WHERE key = ?", (key,))
        return json.loads(rows[0][0]) if rows else default

    def kv_set(self, key: str, value: Any) -> None:
        self.execute("INSERT OR REPLACE INTO kv VALUES (?, ?)", (key, json.dumps(value)))

    # records
    def next_id(self, kind: str) -> int:
        with self._lock:
            (top,) = self._db.execute(
                "SELECT max(id) FROM records WHERE kind = ?", (kind,)
            ).fetchone()
        return top + 1 if top is not None else self.id_bases.get(kind, 1)

    def insert(self, kind: str, body: dict, *, scope: int | None = None) -> dict:
        """Store a new record; one without an id gets the next id of its kind."""
        with self.transaction():
            if body.get("id") is None:
                body = {**body, "id": self.next_id(kind)}
            self._db.execute(
                "INSERT INTO records VALUES (?, ?, ?, ?)", (kind, body["id"], scope, _dump(body))
            )
        return body

    def insert_many(self, rows: Iterable[tuple[str, int | None, dict]]) -> int:
        """Store (kind, scope, body) rows whose bodies carry their ids; one transaction."""
        with self.transaction():
            cursor = self._db.executemany(
                "INSERT INTO records VALUES (?, ?, ?, ?)",
                ((kind, body["id"], scope, _dump(body)) for kind, scope, body in rows),
            )
        return cursor.rowcount

    def replace(self, kind: str, body: dict) -> dict:
        """Write a record's whole body back (its kind, id and scope stay)."""
        with self._lock:
            self._db.execute(
                "UPDATE records SET body = ? WHERE kind = ? AND id = ?",
                (_dump(body), kind, body["id"]),
            )
        return body

    def delete(self, kind: str, record_id: int) -> bool:
        """Remove a record for good; False when there was none."""
        with self._lock:
            cursor = self._db.execute(
                "DELETE FROM records WHERE kind = ? AND id = ?", (kind, record_id)
            )
        return cursor.rowcount > 0

    def get(self, kind: str, record_id: Any, *, scope: int | None = None) -> dict | None:
        """The record, or None; with `scope`, only if it lives there."""
        try:
            record_id = int(record_id)
        except (TypeError, ValueError):
            return None
        sql, params = "SELECT body FROM records WHERE kind = ? AND id = ?", [kind, record_id]
        if scope is not None:
            sql, params = sql + " AND scope = ?", [*params, scope]
        rows = self.execute(sql, params)
        return json.loads(rows[0][0]) if rows else None

    def scope_of(self, kind: str, record_id: int) -> int | None:
        rows = self.execute(
            "SELECT scope FROM records WHERE kind = ? AND id = ?", (kind, record_id)
        )
        return rows[0][0] if rows else None

    def select(
        self,
        kind: str,
        *,
        scope: int | None = None,
        eq: dict[str, Any] | None = None,
        where: Iterable[tuple[str, Iterable[Any]]] = (),
        limit: int | None = None,
        offset: int = 0,
    ) -> list[dict]:
        """Records of a kind in id order; `eq` compares JSON fields (None means null),
        `where` adds (SQL fragment, params) conditions written with `field_sql`."""
        clause, params = self._where(kind, scope, eq, where)
        sql = f"SELECT body FROM records WHERE {clause} ORDER BY id"  # noqa: S608 (values are bound)
        if limit is not None:
            sql, params = sql + " LIMIT ? OFFSET ?", [*params, limit, offset]
        return [json.loads(body) for (body,) in self.execute(sql, params)]

    def count(
        self,
        kind: str,
        *,
        scope: int | None = None,
        eq: dict[str, Any] | None = None,
        where: Iterable[tuple[str, Iterable[Any]]] = (),
    ) -> int:
        clause, params = self._where(kind, scope, eq, where)
        return self.execute(f"SELECT count(*) FROM records WHERE {clause}", params)[0][0]  # noqa: S608

    def counts(self) -> dict[str, int]:
        """How many records of each kind the store holds."""
        return dict(self.execute("SELECT kind, count(*) FROM records GROUP BY kind ORDER BY kind"))

    @staticmethod
    def _where(kind, scope, eq, where) -> tuple[str, list[Any]]:
        parts, params = ["kind = ?"], [kind]
        if scope is not None:
            parts.append("scope = ?")
            params.append(scope)
        for name, value in (eq or {}).items():
            # IS compares nulls too; a JSON boolean reads back as 1/0, like a Python bool.
            parts.append(f"{field_sql(name)} {'IS' if value is None else '='} ?")
            params.append(value)
        for fragment, values in where:
            parts.append(f"({fragment})")
            params.extend(values)
        return " AND ".join(parts), params


def _dump(body: dict) -> str:
    return json.dumps(body, separators=(",", ":"))
