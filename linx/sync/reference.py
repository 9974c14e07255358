"""Procore project reference data (cost codes, sub-jobs), kept per connection.

Procore meters every request, so a project's lists are not read on every run: each is
kept (`ProjectReference`) with the time it was read and reused while it is younger than
`LINX_REFERENCE_MAX_AGE_MINUTES`. A time record already exported at its current
revision may be checked against a list of any age (nothing about it needs Procore's
word again); a new or changed one only against a fresh list. A 422 naming a cost code or
sub-job re-reads that project's lists once per run (`reread`), and a code or sub-job
not found in a kept list is looked for once more in a fresh reading (`missed`) before
its record fails.

Lists are read with no transaction open; each is saved afterwards in a short one. The
sub-job lists an import reads whole are kept in bulk (`keep_sub_jobs`, then `save_kept`):
the unchanged ones' read times in one statement, each changed one in its own.

An export knows which lists a handful of records needs before it uses them: planned
`deferring`, a record that would read a list waits (`NotRead`), and the lists so named
are read side by side (`read_ahead`, `LINX_PROCORE_READS_AT_ONCE` at a time) before its
records are planned again. Each is read once, as planning the records one by one reads
it, and a list that cannot be read fails the record that needs it, as it would have.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from integrations.procore.client import ProcoreClient
from linx.models import Connection, ProjectReference, ReferenceKind
from linx.sync.read_ahead import ReadSet

#: What in Procore's refusal of an entry says its cost code or sub-job is the problem.
NAMES_REFERENCE = re.compile(r"cost[ _]?code|sub[ _-]?job", re.IGNORECASE)

#: Unchanged kept lists whose read time is saved in one statement.
SAVE_AT_ONCE = 500


def names_reference(messages) -> bool:
    """Whether Procore's messages about an entry name its cost code or sub-job."""
    return any(NAMES_REFERENCE.search(str(message)) for message in messages)


def cost_code_data(codes) -> dict[str, dict]:
    """A project's codes by standard cost code id and by full code (deleted ones left out:
    a deleted code counts as not set up)."""
    by_standard, by_full = {}, {}
    for code in codes:
        if code.is_deleted:
            continue
        if code.standard_cost_code_id is not None:
            by_standard[str(code.standard_cost_code_id)] = code.id
        by_full.setdefault(code.full_code, code.id)
    return {"by_standard": by_standard, "by_full_code": by_full}


class NotRead(Exception):
    """Raised, while `ProjectLists.deferring`, where a list would be read from Procore."""

    def __init__(self, key: tuple[str, int]) -> None:
        super().__init__(f"the {key[0]} of project {key[1]} are not read yet")
        self.key = key


def sub_job_data(sub_jobs) -> dict[str, list[int]]:
    return {"active": sorted(s.id for s in sub_jobs if s.active)}


class ProjectLists:
    """One run's view of a connection's kept project lists; reads Procore only when a
    list is missing, too old for the asker, or named by a 422 (once per run)."""

    def __init__(self, connection: Connection, procore: ProcoreClient) -> None:
        self.connection = connection
        self.procore = procore
        self.max_age = timedelta(minutes=settings.LINX_REFERENCE_MAX_AGE_MINUTES)
        self._kept: dict[tuple[str, int], ProjectReference] | None = None
        self._fresh: set[tuple[str, int]] = set()  # read from Procore during this run
        self._reread: set[int] = set()  # projects re-read after a 422 this run
        # Lists an import kept, saved at `save_kept` (whether each changed), and when the
        # first of them was read.
        self._unsaved: dict[tuple[str, int], tuple[ProjectReference, bool]] = {}
        self._unsaved_since = timezone.now()
        # Lists to be read, gathered while `deferring`; and those read ahead (`read_ahead`).
        self._needed: dict[tuple[str, int], None] | None = None
        self._ahead: ReadSet | None = None

    @contextmanager
    def deferring(self) -> Iterator[list[tuple[str, int]]]:
        """While open, a list that would be read from Procore raises `NotRead` instead;
        the lists so needed are in the yielded list (in the order first needed) when it
        closes, for `read_ahead`."""
        needed: list[tuple[str, int]] = []
        self._needed = {}
        try:
            yield needed
        finally:
            needed.extend(self._needed)
            self._needed = None

    def read_ahead(self, keys: list[tuple[str, int]]) -> None:
        """Start reading these lists a few at a time (`LINX_PROCORE_READS_AT_ONCE`); the
        lookup that needs one next takes it, instead of reading it then. Each is read
        once, as it would have been in place; `close` drops any not taken."""
        if self._ahead is None:
            self._ahead = ReadSet(self.procore, settings.LINX_PROCORE_READS_AT_ONCE)
        self._ahead.start((key, self._reader(*key)) for key in keys)

    def close(self) -> None:
        """Stop reading ahead (lists read and not taken are dropped: not saved)."""
        if self._ahead is not None:
            self._ahead.close()
            self._ahead = None

    def cost_codes(self, project_id: int, *, any_age: bool = False) -> dict[str, dict]:
        """Raises ProcoreError when the list must be read and cannot be."""
        return self._get(ReferenceKind.COST_CODES, project_id, any_age)

    def sub_jobs(self, project_id: int, *, any_age: bool = False) -> set[int]:
        return set(self._get(ReferenceKind.SUB_JOBS, project_id, any_age)["active"])

    def reread(self, project_id: int) -> bool:
        """Read a project's lists again after Procore refused an entry naming one of them;
        False when they were already re-read in this run (the refusal stands)."""
        if project_id in self._reread:
            return False
        self._reread.add(project_id)
        for kind in ReferenceKind.values:
            self._read(kind, project_id)
        return True

    def missed(self, kind: str, project_id: int) -> bool:
        """A record's code or sub-job is not in a kept list: before the record fails, the
        list is read again unless it already was in this run (someone may just have set
        it up). True when it was read again, so the lookup is worth repeating."""
        if (kind, project_id) in self._fresh:
            return False
        self._read(kind, project_id)
        return True

    def keep_sub_jobs(self, project_id: int, sub_jobs) -> None:
        """An import read a project's whole sub-job list: keep it for exports (saved at
        `save_kept`; a list never kept before is saved now)."""
        key = (ReferenceKind.SUB_JOBS, project_id)
        kept, data = self._all().get(key), sub_job_data(sub_jobs)
        if kept is None:
            self._save(ReferenceKind.SUB_JOBS, project_id, data)
            return
        if not self._unsaved:
            self._unsaved_since = timezone.now()
        changed = self._unsaved.get(key, (kept, False))[1] or kept.data != data
        kept.data = data
        self._unsaved[key] = (kept, changed)
        self._fresh.add(key)

    def save_kept(self) -> None:
        """Save the lists `keep_sub_jobs` kept, as read when the first of them was: the
        unchanged ones' read times in a statement per `SAVE_AT_ONCE`."""
        unsaved, read_at = list(self._unsaved.values()), self._unsaved_since
        self._unsaved = {}
        same = []
        for kept, changed in unsaved:
            kept.read_at = read_at
            if changed:
                self._all()[(kept.kind, kept.project_id)] = self._update(kept, kept.data, read_at)
            else:
                same.append(kept.pk)
        for start in range(0, len(same), SAVE_AT_ONCE):
            chunk = same[start : start + SAVE_AT_ONCE]
            ProjectReference.objects.filter(pk__in=chunk).update(read_at=read_at)

    def kept_sub_jobs(self, project_id: int) -> set[int] | None:
        """The project's active sub-jobs as kept, while the list is younger than the
        limit; None when there is no such list (nothing is read from Procore)."""
        kept = self._all().get((ReferenceKind.SUB_JOBS, project_id))
        if kept is None or not self._young(kept):
            return None
        return set(kept.data["active"])

    def _get(self, kind: str, project_id: int, any_age: bool) -> dict[str, Any]:
        kept = self._all().get((kind, project_id))
        if kept is not None and (any_age or self._young(kept)):
            return kept.data
        return self._read(kind, project_id)

    def _young(self, kept: ProjectReference) -> bool:
        key = (kept.kind, kept.project_id)
        return key in self._fresh or timezone.now() - kept.read_at <= self.max_age

    def _all(self) -> dict[tuple[str, int], ProjectReference]:
        if self._kept is None:  # one query for every project the run may touch
            self._kept = {
                (r.kind, r.project_id): r
                for r in ProjectReference.objects.filter(connection=self.connection)
            }
        return self._kept

    def _read(self, kind: str, project_id: int) -> dict[str, Any]:
        key = (kind, project_id)
        if self._needed is not None:
            self._needed[key] = None
            raise NotRead(key)
        listing = self._ahead.take(key) if self._ahead is not None else None
        if listing is None:  # not read ahead: read now
            listing = self._reader(kind, project_id)(self.procore)
        if kind == ReferenceKind.COST_CODES:
            data = cost_code_data(listing)
        else:
            data = sub_job_data(listing)
        return self._save(kind, project_id, data)

    @staticmethod
    def _reader(kind: str, project_id: int):
        if kind == ReferenceKind.COST_CODES:
            return lambda client: client.project_cost_codes(project_id)
        return lambda client: client.sub_jobs(project_id)

    def _save(self, kind: str, project_id: int, data: dict[str, Any]) -> dict[str, Any]:
        now = timezone.now()
        kept = self._all().get((kind, project_id))
        # One statement: an UPDATE by id of a list kept when the run began, an INSERT of
        # one that was not. Only if another run removed or added it meanwhile is it
        # written as `update_or_create` writes it (a locking read first).
        if kept is not None:
            kept = self._update(kept, data, now)
        else:
            try:
                with transaction.atomic():
                    kept = ProjectReference.objects.create(
                        connection=self.connection,
                        project_id=project_id,
                        kind=kind,
                        data=data,
                        read_at=now,
                    )
            except IntegrityError:
                kept = self._save_again(kind, project_id, data, now)
        self._all()[(kind, project_id)] = kept
        self._fresh.add((kind, project_id))
        return data

    def _update(self, kept: ProjectReference, data: dict[str, Any], read_at) -> ProjectReference:
        """UPDATE by id a list kept when the run began (written again, as
        `update_or_create` writes it, if another run removed it meanwhile)."""
        if ProjectReference.objects.filter(pk=kept.pk).update(data=data, read_at=read_at):
            kept.data, kept.read_at = data, read_at
            return kept
        return self._save_again(kept.kind, kept.project_id, data, read_at)

    def _save_again(
        self, kind: str, project_id: int, data: dict[str, Any], now
    ) -> ProjectReference:
        reference, _ = ProjectReference.objects.update_or_create(
            connection=self.connection,
            project_id=project_id,
            kind=kind,
            defaults={"data": data, "read_at": now},
        )
        return reference
