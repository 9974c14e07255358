"""A Procore call written already, its answer read when it is wanted.

`ProcoreClient` writes a list's first page (`Listing.send_now`) or a bulk create
(`send_timecard_entries`) to an open connection now (see `integrations.early_send`);
a `SentNow` reads the answer later as the client's own calls do: a 401 renews the token
and the call is made again, a refusal is raised as the client's error.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import requests

from integrations.early_send import EarlySend
from integrations.procore.auth import Token

if TYPE_CHECKING:
    from integrations.procore.client import ProcoreClient


def same(response: requests.Response) -> requests.Response:
    return response


class SentNow:
    """A call written already (`ProcoreClient._sent_now`): calling it reads the answer as
    `ProcoreClient._call` would (a 401 renewed and the call made again, an error raised)
    and hands back ``then`` of it; `drop` when it is not wanted after all."""

    def __init__(
        self,
        client: ProcoreClient,
        method: str,
        url: str,
        token: Token,
        then: Callable[[requests.Response], Any],
        **call: Any,
    ) -> None:
        self._client, self._method, self._url, self._token = client, method, url, token
        self._then = then
        self._call = call  # params, json
        headers = client._headers(token)
        self._early: EarlySend | None = client.http.send_now(method, url, headers=headers, **call)

    def __call__(self) -> Any:
        early, self._early = self._early, None
        call = self._client._call
        return self._then(
            call(self._method, self._url, token=self._token, early=early, **self._call)
        )

    def drop(self) -> None:
        if self._early is not None:
            self._early.drop()
            self._early = None
