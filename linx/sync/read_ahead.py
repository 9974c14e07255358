"""Per-project Procore lists read a few at a time, ahead of the run that uses them.

A full import reads one sub-job list and one crew list per project: at internet latency,
one after another, that is minutes of waiting. A `ReadAhead` asks for the next lists
while the run goes through the earlier ones, in the order the run asks for them, so
rows come out in the same order as when they are read one by one. How depends on how
quickly Procore answers (`AnswerPace`):

- **slow answers** (over the internet): up to ``limit`` lists are read side by side on
  worker threads, where waiting is what a list costs;
- **quick answers**: `QUICK_AT_ONCE` lists are asked for on the run's own thread (their
  first page written to an open connection, see `integrations.early_send`) and read when
  taken, so Procore works on them while the run goes through the one in hand. Threads
  gain nothing there, and the run's thread and a worker taking turns at Python from two
  cores cost half as much CPU again as the reads themselves.

Only the HTTP calls go to a worker thread (`write_pool` does the same for ExakTime
writes). The token is read on the run's thread, where the connection's row lives, and
handed to the worker pinned: a worker never touches the database. A call whose token
must be renewed (expiring, or refused with 401) is read again on the run's thread, where
the renewal is saved. Pacing, 429 and ``Retry-After`` are the HTTP client's, shared by
every thread of the connection (see `integrations.http`).

A worker reads its list to the end (a project's list is one page or a few) and hands
back what it read and the error that cut it short, if any; the run's thread meets the
error at the same record as a list read in place would raise it.
"""

from __future__ import annotations

import contextlib
import copy
import logging
import threading
import time
from collections.abc import Callable, Hashable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from integrations.procore.client import ProcoreClient
from integrations.procore.errors import ProcoreError
from linx.sync.write_pool import in_worker

log = logging.getLogger(__name__)

Read = Callable[[ProcoreClient], Iterable[Any]]

#: How long a token read on the run's thread is handed to the next workers before the
#: connection's row is read again (a list read ahead is a few milliseconds: reading the
#: row for each was most of the run's own work). One renewed elsewhere meanwhile is
#: refused with 401 and read again on the run's thread, as an expired one is.
TOKEN_REUSE_SECONDS = 1.0

#: A list answered within this many seconds (of its own: the time it took, shared by
#: the lists out with it) is quick: see `AnswerPace`.
QUICK_ANSWER_SECONDS = 0.002
#: Lists out at once while answers are quick: by a `ReadSet`'s workers, one used while
#: the next is read; by a `ReadAhead`, asked for on the run's thread before the one in
#: hand is gone through (two: at a loopback server's speed, one left the run waiting on
#: a fifth of the answers; three came no sooner).
QUICK_AT_ONCE = 2


class RenewOnRunThread(Exception):
    """A worker's pinned token must be renewed: the call is made again on the run's
    thread (``stale``, the token the worker held, lets it be renewed only once)."""

    def __init__(self, stale=None) -> None:
        super().__init__("a new Procore token is needed")
        self.stale = stale


class PinnedToken:
    """A `TokenStore` holding the token the run's thread read; renewing is refused here."""

    def __init__(self, token) -> None:
        self._token = token

    def current(self):
        return self._token

    def replace(self, stale, obtain):
        raise RenewOnRunThread(stale)


class TokenPin:
    """Hands workers clients whose token was read here, on the run's thread (renewed here
    when due), and reuses it for `TOKEN_REUSE_SECONDS` while it does not expire soon."""

    def __init__(self, procore: ProcoreClient) -> None:
        self.procore = procore
        self._token = None
        self._read_at = 0.0

    def client(self) -> ProcoreClient:
        """A copy of the client holding the pinned token: it never reads the database."""
        client = copy.copy(self.procore)
        client.token_store = PinnedToken(self.token())
        return client

    def token(self):
        now = self.procore._now()
        fresh = time.monotonic() - self._read_at < TOKEN_REUSE_SECONDS
        if self._token is None or not fresh or self._token.expires_soon(now):
            self._token = self.procore.auth.valid_token(self.procore.token_store, now)
            self._read_at = time.monotonic()
        return self._token

    def forget(self) -> None:
        """The token was renewed on the run's thread: the next clients read it again."""
        self._token = None


class Fetched:
    """A list read to its end in a worker: its records, then the error that cut it short.

    Iterates like the client's `Listing` (``total``, ``changed`` as it set them)."""

    def __init__(self, records: list, total: int | None, changed: bool, error: Exception | None):
        self.records = records
        self.total = total
        self.changed = changed
        self.error = error

    def __iter__(self) -> Iterator[Any]:
        yield from self.records
        if self.error is not None:
            raise self.error


def _read_whole(read: Read, client: ProcoreClient) -> Fetched:
    records: list = []
    listing = None
    error = None
    try:
        listing = read(client)
        records.extend(listing)
    except ProcoreError as failed:
        error = failed
    return Fetched(
        records, getattr(listing, "total", None), getattr(listing, "changed", False), error
    )


class AnswerPace:
    """How many lists are out at once: up to ``limit`` while Procore's answers are slow,
    as over the internet, where waiting is what a list costs; `QUICK_AT_ONCE` while they
    are quick (`QUICK_ANSWER_SECONDS`), where more at once come no sooner (the server
    answers them in turn) and threads taking turns at Python cost more CPU per list.
    Workers' reads are timed by `read`; a list read on the run's thread by `note`."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._seconds: float | None = None  # a list's own time (see `note`)
        self._out = 0
        self._changed = threading.Condition()

    def quick(self) -> bool:
        return self._seconds is None or self._seconds < QUICK_ANSWER_SECONDS

    def note(self, seconds: float) -> None:
        """A list took ``seconds`` of its own (each new one counts half). Called for a
        list read on the run's thread, and by `read` for a worker's."""
        with self._changed:
            self._seconds = seconds if self._seconds is None else (self._seconds + seconds) / 2

    def at_once(self) -> int:
        return min(self.limit, QUICK_AT_ONCE) if self.quick() else self.limit

    def read(
        self, read: Read, client: ProcoreClient, halted: Callable[[], bool] = lambda: False
    ) -> Fetched | None:
        """In a worker: read one list whole once fewer than `at_once` are out; timed.
        None, unread, when ``halted`` says so meanwhile."""
        with self._changed:
            self._changed.wait_for(lambda: halted() or self._out < self.at_once())
            if halted():
                return None
            self._out += 1
            out = self._out  # this one with those already out
        began = time.perf_counter()
        try:
            return _read_whole(read, client)
        finally:
            took = (time.perf_counter() - began) / out
            with self._changed:
                self._out -= 1
                self.note(took)  # the condition's lock is reentrant
                self._changed.notify_all()

    def wake(self) -> None:
        """Workers waiting for their turn look at ``halted`` again."""
        with self._changed:
            self._changed.notify_all()


class ReadAhead:
    """Reads the lists ``plan`` names (key, read), up to ``limit`` at once, ahead of `take`.

    `take(key)` returns that key's list: read by a worker, or asked for on this thread
    while answers are quick (see the module), or read in place when it was not read
    ahead (not planned, a token to renew, ``limit`` 1), with the token pinned the same
    way.
    """

    def __init__(
        self,
        procore: ProcoreClient,
        limit: int,
        plan: Iterable[tuple[Hashable, Read]] = (),
        name: str = "linx-procore-read",
    ) -> None:
        self.procore = procore
        self.limit = max(1, limit)
        self._plan = iter(plan)
        self._name = name
        self._executor: ThreadPoolExecutor | None = None
        # Key → a worker's read (a Future) or a list asked for on this thread.
        self._pending: dict[Hashable, tuple[Future | Iterable[Any], Read]] = {}
        self._reads_ahead = self.limit > 1 and hasattr(procore, "token_store")
        self._pin = TokenPin(procore)
        self._pace = AnswerPace(self.limit)
        self._closed = threading.Event()
        self._fill()

    def take(self, key: Hashable, read: Read) -> Iterable[Any]:
        """The list for ``key``; ``read`` reads it in place when it was not read ahead."""
        job = self._pending.pop(key, None)
        if job is None:
            self._fill()
            return self._read_here(read)
        waiting, planned = job
        try:
            if isinstance(waiting, Future):
                self._fill()  # the next one goes out while this one is used
                return waiting.result()
            # Asked for on this thread: its answer is read before the next one is sent,
            # which then goes on the same connection while this one is used.
            fetched = self._answer(waiting)
            self._fill()
            return fetched
        except RenewOnRunThread:
            self._pin.forget()  # the lists sent from now on take the renewed one
            return planned(self.procore)  # renews the token on this thread, then reads

    def _answer(self, listing: Iterable[Any]) -> Fetched:
        """A list whose first page was asked for on this thread, read whole; how long
        that took tells the pace whether answers are still quick."""
        began = time.perf_counter()
        try:
            return _read_whole(lambda _client: listing, self.procore)
        finally:
            self._pace.note(time.perf_counter() - began)

    def _read_here(self, read: Read) -> Iterable[Any]:
        """A list not read ahead, read whole on this thread with the token pinned as a
        worker's is: reading the connection's row before each call was a third of a
        one-by-one import's own work. One whose token must be renewed is read again
        in place, where the renewal is saved."""
        if not hasattr(self.procore, "token_store"):
            return read(self.procore)
        try:
            return _read_whole(read, self._pin.client())
        except RenewOnRunThread:
            self._pin.forget()  # the lists read from now on take the renewed one
            return read(self.procore)

    def stop(self) -> None:
        """Send no more reads ahead (what is out is finished and dropped at `close`)."""
        self._plan = iter(())

    def close(self) -> None:
        self.stop()
        self._closed.set()  # reads waiting for their turn are not sent
        self._pace.wake()
        for waiting, _read in self._pending.values():
            if drop := getattr(waiting, "drop_sent", None):
                drop()  # asked for on this thread, not to be read
        self._pending.clear()
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
            self._executor = None

    def _fill(self) -> None:
        if not self._reads_ahead:
            return
        while len(self._pending) < self._pace.at_once():
            job = next(self._plan, None)
            if job is None:
                return
            key, read = job
            sent = self._send_now(read) if self._pace.quick() else self._submit(read)
            self._pending[key] = (sent, read)

    def _send_now(self, read: Read) -> Iterable[Any]:
        """While answers are quick: the list's first page asked for on this thread (no
        worker), read when the list is taken (see `integrations.early_send`)."""
        listing = read(self._pin.client())
        if send_now := getattr(listing, "send_now", None):
            with contextlib.suppress(RenewOnRunThread):  # renewed when the list is read
                send_now()
        return listing

    def _submit(self, read: Read) -> Future:
        """Send one read to a worker with the token read here, on the run's thread."""
        worker_client = self._pin.client()
        if self._executor is None:
            self._executor = ThreadPoolExecutor(self.limit, thread_name_prefix=self._name)
        return self._executor.submit(
            in_worker, lambda: self._pace.read(read, worker_client, self._closed.is_set)
        )


class ReadSet:
    """Reads a set of lists at once, up to ``limit`` side by side; `take` hands each one
    over once, by key (None: not read ahead, so read it in place).

    For lists whose need is known before they are used (an export's records planned a
    few hundred at a time). A list that ends in an error, or a token to renew, stops the
    reads not yet sent: those are read in place, one by one, as before, so a refusal
    costs no more than the reads already out. Each list is read at most once; its error
    is met by the one taking it, as a list read in place raises it.
    """

    def __init__(self, procore: ProcoreClient, limit: int, name: str = "linx-procore-lists"):
        self.procore = procore
        self.limit = max(1, limit)
        self._name = name
        self._threaded = self.limit > 1 and hasattr(procore, "token_store")
        self._executor: ThreadPoolExecutor | None = None
        self._pending: dict[Hashable, Future] = {}
        self._halt = threading.Event()
        self._pin = TokenPin(procore)
        self._pace = AnswerPace(self.limit)

    def start(self, jobs: Iterable[tuple[Hashable, Read]]) -> None:
        """Start reading these lists (keys already out are left as they are)."""
        jobs = [(key, read) for key, read in jobs if key not in self._pending]
        if not self._threaded or self._halt.is_set() or len(jobs) < 2:
            return  # one list gains nothing from a thread: read in place
        client = self._pin.client()
        if self._executor is None:
            self._executor = ThreadPoolExecutor(self.limit, thread_name_prefix=self._name)
        for key, read in jobs:
            self._pending[key] = self._executor.submit(
                in_worker, lambda r=read: self._job(r, client)
            )

    def _job(self, read: Read, client: ProcoreClient) -> Fetched | None:
        if self._halt.is_set():
            return None  # not sent: read in place
        try:
            fetched = self._pace.read(read, client, self._halt.is_set)
        except BaseException:
            self._halt.set()
            raise
        if fetched is not None and fetched.error is not None:
            self._halt.set()
        return fetched

    def take(self, key: Hashable) -> Fetched | None:
        """The list read for ``key``, once; None when it must be read in place."""
        future = self._pending.pop(key, None)
        if future is None:
            return None
        try:
            return future.result()
        except RenewOnRunThread:
            return None  # the token is renewed on this thread when read in place

    def close(self) -> None:
        """Send no more reads; what is out is finished and dropped."""
        self._halt.set()
        self._pace.wake()
        self._pending.clear()
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
            self._executor = None
