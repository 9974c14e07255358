"""Reading an export's time records from ExakTime while its own data loads.

Reading the week's pages is mostly waiting for ExakTime. `PageReader` reads them on a
thread of its own (HTTP only: it never touches the database), handing the records over
a few hundred at a time, so the run's thread can load the mappings and the ledger lines
of the records read so far in the meantime. The run's thread decides nothing about a
record before the reading is complete: what it gets is exactly what reading the pages
one after another gave.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator
from datetime import date

from integrations.exaktime.client import ExakTimeClient
from integrations.exaktime.records import TimeRecord

HANDOVER = 250  # records handed to the run's thread at a time


class PageReader:
    """Reads the time records of [start, end] on a thread; iterate to get them in order.

    A list that changed while its pages were read (a punch added, or moved to another
    day) is read a second time, its records following the first reading's: the record
    at the seam of two pages may have gone unseen. An error reading ExakTime is raised
    by the iteration.
    """

    def __init__(self, exaktime: ExakTimeClient, start: date, end: date) -> None:
        self._read = lambda on_changed=None: exaktime.time_records(
            start, end, on_changed=on_changed
        )
        self._handed: queue.Queue = queue.Queue()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="linx-export-read", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            changed: list[bool] = []
            self._hand(self._read(on_changed=lambda: changed.append(True)))
            if changed and not self._stop.is_set():
                self._hand(self._read())
        except BaseException as error:  # raised on the run's thread
            self._handed.put(error)
        finally:
            self._handed.put(None)

    def _hand(self, records: Iterator[TimeRecord]) -> None:
        batch: list[TimeRecord] = []
        for record in records:
            if self._stop.is_set():
                return
            batch.append(record)
            if len(batch) >= HANDOVER:
                self._handed.put(batch)
                batch = []
        if batch:
            self._handed.put(batch)

    def batches(self) -> Iterator[list[TimeRecord]]:
        """The records as they are read, a few hundred at a time."""
        while (batch := self._handed.get()) is not None:
            if isinstance(batch, BaseException):
                self.close()
                raise batch
            yield batch

    def close(self) -> None:
        """Stop reading (the run ended early) and wait for the thread."""
        self._stop.set()
        self._thread.join()


def read_with(
    reader: PageReader,
    keep: Callable[[TimeRecord], bool],
    alongside: Callable[[list[TimeRecord]], None],
) -> list[TimeRecord]:
    """The kept records, once each (by id: the later reading wins, in the place of the
    first); ``alongside`` gets each handful of kept records as it arrives."""
    kept: dict[int, TimeRecord] = {}
    for batch in reader.batches():
        batch = [record for record in batch if keep(record)]
        for record in batch:
            kept[record.id] = record
        alongside(batch)
    return list(kept.values())
