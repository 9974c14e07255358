"""Procore's webhooks API: hooks (where to deliver), triggers (what), deliveries (how it went).

A mixin of `ProcoreClient`, kept apart because it is a job of its own: subscribing, not
reading records. The shapes are the contract's "Webhooks" section.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from integrations.procore.errors import ProcoreError
from integrations.values import whole

HOOKS = "/rest/v1.0/webhooks/hooks"
API_VERSION = "v2"


@dataclass(frozen=True)
class Hook:
    id: int
    destination_url: str
    destination_headers: dict[str, str]


@dataclass(frozen=True)
class Trigger:
    id: int
    resource_name: str
    event_type: str


@dataclass(frozen=True)
class Delivery:
    id: int
    event_id: Any
    started_at: str | None
    completed_at: str | None
    response_status: int | None
    retry_count: int

    @property
    def failed(self) -> bool:
        return not (self.response_status and 200 <= self.response_status < 300)


def _list_of(data: Any, what: str) -> list[dict]:
    if not isinstance(data, list) or not all(isinstance(item, dict) for item in data):
        raise ProcoreError(f"Procore answered the {what} list with something that is not a list.")
    return data


def _hook(data: dict) -> Hook:
    headers = data.get("destination_headers")
    return Hook(
        id=whole(data.get("id")),
        destination_url=str(data.get("destination_url") or ""),
        destination_headers=headers if isinstance(headers, dict) else {},
    )


class HookCalls:
    """Hooks, triggers and deliveries of the client's company (needs `_call`, `_json`)."""

    def hooks(self, namespace: str) -> list[Hook]:
        response = self._call(
            "GET", self._url(HOOKS), params={"company_id": self._cid(), "namespace": namespace}
        )
        return [_hook(item) for item in _list_of(self._json(response), "hooks")]

    def create_hook(self, namespace: str, url: str, headers: dict[str, str]) -> Hook:
        body = {
            "company_id": self._cid(),
            "hook": {
                "api_version": API_VERSION,
                "namespace": namespace,
                "destination_url": url,
                "destination_headers": headers,
            },
        }
        return _hook(self._written(self._call("POST", self._url(HOOKS), json=body)))

    def update_hook(self, hook_id: int, url: str, headers: dict[str, str]) -> Hook:
        body = {
            "company_id": self._cid(),
            "hook": {"destination_url": url, "destination_headers": headers},
        }
        response = self._call(
            "PATCH", self._url(f"{HOOKS}/{hook_id}"), params={"company_id": self._cid()}, json=body
        )
        return _hook(self._written(response))

    def delete_hook(self, hook_id: int) -> None:
        self._call(
            "DELETE",
            self._url(f"{HOOKS}/{hook_id}"),
            params={"company_id": self._cid()},
            accept=(404,),
        )

    def triggers(self, hook_id: int) -> list[Trigger]:
        response = self._call(
            "GET", self._url(f"{HOOKS}/{hook_id}/triggers"), params={"company_id": self._cid()}
        )
        return [
            Trigger(whole(t.get("id")), str(t.get("resource_name")), str(t.get("event_type")))
            for t in _list_of(self._json(response), "triggers")
        ]

    def create_trigger(self, hook_id: int, resource_name: str, event_type: str) -> None:
        body = {
            "company_id": self._cid(),
            "api_version": API_VERSION,
            "trigger": {"resource_name": resource_name, "event_type": event_type},
        }
        self._call("POST", self._url(f"{HOOKS}/{hook_id}/triggers"), json=body)

    def delete_trigger(self, hook_id: int, trigger_id: int) -> None:
        self._call(
            "DELETE",
            self._url(f"{HOOKS}/{hook_id}/triggers/{trigger_id}"),
            params={"company_id": self._cid()},
            accept=(404,),
        )

    def deliveries(self, hook_id: int) -> list[Delivery]:
        response = self._call(
            "GET", self._url(f"{HOOKS}/{hook_id}/deliveries"), params={"company_id": self._cid()}
        )
        return [
            Delivery(
                id=whole(d.get("id")),
                event_id=d.get("event_id"),
                started_at=d.get("started_at"),
                completed_at=d.get("completed_at"),
                response_status=whole(d.get("response_status")),
                retry_count=whole(d.get("retry_count")) or 0,
            )
            for d in _list_of(self._json(response), "deliveries")
        ]
