"""A GET sent now and answered later, both on the caller's own thread.

An import reads hundreds of small per-project lists. Read one after another, the run
waits for each answer; read on worker threads, the run's thread and the workers take
turns at Python from two cores, which cost half as much CPU again as the reads
themselves (measured: 0.88 against 0.59 CPU seconds for a large company's 916 lists).
Sending the next list's request before going through the one in hand lets the server
work on it meanwhile, with no thread at all: `EarlyGet.send` writes the request on a
connection the session already holds open, `EarlyGet.answer` reads the answer when it
is wanted.

It goes this way only on a kept-alive connection of requests' own adapter (not through
a proxy, not to a test's stand-in for the adapter), so connecting, the address check
and TLS are never its business. Whatever else happens (nothing open to reuse, the
connection closed under it, an unreadable answer), `send` or `answer` says None and the
caller sends the call in full, with its usual retries: a GET can be asked twice.
"""

from __future__ import annotations

import http.client
import logging
from collections.abc import Callable
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from requests.cookies import extract_cookies_to_jar
from urllib3.exceptions import HTTPError as Urllib3Error
from urllib3.util import Timeout

log = logging.getLogger(__name__)

#: requests' own adapter send: a test that stands in for it (``responses``) patches this
#: attribute, and then every call must go through the stand-in.
_ADAPTER_SEND = HTTPAdapter.send
#: What sending or reading over a kept-alive connection may raise.
_FAILURES = (OSError, Urllib3Error, http.client.HTTPException, requests.RequestException)


class EarlyGet:
    """One GET written to an open connection; its answer read by `answer`, once."""

    def __init__(self, adapter: HTTPAdapter, pool: Any, conn: Any, request) -> None:
        self._adapter = adapter
        self._pool = pool
        self._conn = conn
        self._request = request
        self._cookies = None
        self._done = False

    @classmethod
    def send(
        cls,
        session: requests.Session,
        url: str,
        *,
        params: Any = None,
        headers: Any = None,
        timeout: tuple[float, float],
        verify: bool | str = True,
        before: Callable[[], None] = lambda: None,
    ) -> EarlyGet | None:
        """Write the GET now (``before`` is called first, once it will go); None, with
        nothing sent, when it cannot go early."""
        request = session.prepare_request(
            requests.Request("GET", url, params=params, headers=headers)
        )
        adapter = session.get_adapter(request.url)
        if not isinstance(adapter, HTTPAdapter) or type(adapter).send is not _ADAPTER_SEND:
            return None  # a stand-in for the adapter is in place: it must see every call
        try:
            pool = adapter.get_connection_with_tls_context(request, verify, proxies=None)
            adapter.cert_verify(pool, request.url, verify, None)
            conn = pool._get_conn()
        except _FAILURES:
            return None
        if conn.is_closed:  # nothing open to reuse: connecting is `request`'s business
            pool._put_conn(conn)
            return None
        try:
            before()
        except BaseException:
            pool._put_conn(conn)
            raise
        try:
            conn.timeout = Timeout(connect=timeout[0], read=timeout[1]).read_timeout
            conn.request(
                "GET",
                request.path_url,
                body=None,
                headers=request.headers,
                preload_content=False,
                decode_content=False,
            )
        except _FAILURES as error:
            log.debug("early GET not sent (%s): sent in full instead", type(error).__name__)
            conn.close()
            pool._put_conn(conn)
            return None
        early = cls(adapter, pool, conn, request)
        early._cookies = session.cookies
        return early

    def answer(self) -> requests.Response | None:
        """The answer, read whole (the connection goes back to the pool); None when it
        could not be read (the connection is closed), or was dropped."""
        if self._done:
            return None
        self._done = True
        raw = None
        try:
            raw = self._conn.getresponse()
            # As urllib3 does for its own calls: reading the body to its end hands the
            # connection back to the pool.
            raw._connection, raw._pool = self._conn, self._pool
            response = self._adapter.build_response(self._request, raw)
            extract_cookies_to_jar(self._cookies, self._request, raw)
            response.content  # noqa: B018 - read whole, as requests does unless streaming
            return response
        except _FAILURES as error:
            log.debug("early GET not answered (%s): sent in full instead", type(error).__name__)
            self._conn.close()
            if raw is not None:
                raw.release_conn()
            else:
                self._pool._put_conn(self._conn)
            return None

    def drop(self) -> None:
        """Not wanted after all: the connection is closed, its answer unread, and given
        back to the pool (which opens a new one when it is next needed)."""
        if not self._done:
            self._done = True
            self._conn.close()
            self._pool._put_conn(self._conn)
