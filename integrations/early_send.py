"""A call written now and answered later, both on the caller's own thread.

An import reads hundreds of small per-project lists; an export sends hundreds of bulk
creates, recording each answer while the next is out. Done on worker threads, the run's
thread and the workers take turns at Python from two cores, which cost half as much
CPU again as the calls themselves (measured: 0.88 against 0.59 CPU seconds for a large
company's 916 lists). Writing the next request before going through the answer in hand
lets the server work on it meanwhile, with no thread at all: `EarlySend.send` writes
the request on a connection the session already holds open, `EarlySend.answer` reads
the answer when it is wanted.

It goes this way only on a kept-alive connection of requests' own adapter (not through
a proxy, not to a test's stand-in for the adapter), so connecting, the address check
and TLS are never its business. When nothing is open to reuse, `send` says None and
nothing is sent: the caller makes the call in full. A call whose answer cannot be read
(the connection closed under it) is, for a method that may be repeated, given back as
None to be sent in full again; for any other (a POST) it raises `requests.ConnectionError`,
which the HTTP client words as an outcome it cannot know, as for a call it sent itself.
An answer read goes through the session's cookie jar and response hooks, as any call's.
"""

from __future__ import annotations

import http.client
import logging
from collections.abc import Callable
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from requests.cookies import extract_cookies_to_jar
from requests.hooks import dispatch_hook
from urllib3.exceptions import HTTPError as Urllib3Error
from urllib3.util import Timeout

log = logging.getLogger(__name__)

#: requests' own adapter send: a test that stands in for it (``responses``) patches this
#: attribute, and then every call must go through the stand-in.
_ADAPTER_SEND = HTTPAdapter.send
#: What sending or reading over a kept-alive connection may raise.
_FAILURES = (OSError, Urllib3Error, http.client.HTTPException, requests.RequestException)


class EarlySend:
    """One request written to an open connection; its answer read by `answer`, once."""

    def __init__(
        self, session: requests.Session, adapter: HTTPAdapter, pool: Any, conn: Any, request,
        repeatable: bool,
    ) -> None:  # fmt: skip
        self._cookies = session.cookies
        self._adapter = adapter
        self._pool = pool
        self._conn = conn
        self._request = request
        self._repeatable = repeatable
        self._error: BaseException | None = None  # met by `answer`
        self._spent = False  # answered or dropped

    @classmethod
    def send(
        cls,
        session: requests.Session,
        method: str,
        url: str,
        *,
        params: Any = None,
        json: Any = None,
        headers: Any = None,
        timeout: tuple[float, float],
        verify: bool | str = True,
        repeatable: bool,
        before: Callable[[], None] = lambda: None,
    ) -> EarlySend | None:
        """Write the request now (``before`` is called first, once it will go); None,
        with nothing sent, when it cannot go early. ``repeatable``: whether sending it
        twice cannot do a thing twice."""
        request = session.prepare_request(
            requests.Request(method, url, params=params, json=json, headers=headers)
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
                request.method,
                request.path_url,
                body=request.body,
                headers=request.headers,
                preload_content=False,
                decode_content=False,
            )
        except _FAILURES as error:
            failed = cls(session, adapter, pool, conn, request, repeatable)
            failed._error = error  # part of it may have gone: met as an unread answer is
            return failed
        return cls(session, adapter, pool, conn, request, repeatable)

    def answer(self) -> requests.Response | None:
        """The answer, read whole (the connection goes back to the pool). When it could
        not be sent whole or read (the connection is closed): None for a call that may
        be sent again in full, else `requests.ConnectionError` (so too once dropped or
        answered already: such a call is never sent twice)."""
        if self._spent:
            if self._repeatable:
                return None
            raise requests.ConnectionError("its answer was not read", request=self._request)
        self._spent = True
        raw = None
        try:
            if self._error is not None:
                raise self._error
            raw = self._conn.getresponse()
            # As urllib3 does for its own calls: reading the body to its end hands the
            # connection back to the pool.
            raw._connection, raw._pool = self._conn, self._pool
            response = self._adapter.build_response(self._request, raw)
            extract_cookies_to_jar(self._cookies, self._request, raw)
            response.content  # noqa: B018 - read whole, as requests does unless streaming
            # The session's response hooks see it, as they see every call it sends.
            return dispatch_hook("response", self._request.hooks, response)
        except _FAILURES as error:
            self._conn.close()
            if raw is not None:
                raw.release_conn()
            else:
                self._pool._put_conn(self._conn)
            if not self._repeatable:
                raise requests.ConnectionError(error, request=self._request) from error
            log.debug("early call not answered (%s): sent in full", type(error).__name__)
            return None

    def drop(self) -> None:
        """Not wanted after all: the connection is closed, its answer unread, and given
        back to the pool (which opens a new one when it is next needed)."""
        if not self._spent:
            self._spent = True
            self._conn.close()
            self._pool._put_conn(self._conn)
