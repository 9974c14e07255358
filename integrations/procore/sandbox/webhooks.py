"""The Procore sandbox's webhooks: single-record reads, hooks, triggers, deliveries.

A mixin of `ProcoreSandbox`, kept apart from the list and timecard endpoints. After each
change to its data (`add`, `update`, `remove`, so also the `/_sandbox/records` endpoints
and `linx_sandbox`), every hook of the record's company with a matching trigger gets the
event POSTed by a background thread, with the hook's headers; a non-2xx answer is
retried with growing gaps, and every attempt is recorded as a delivery. Deliveries can
be told (`POST /_sandbox/webhooks`, or `delivery_faults`) to be delayed, duplicated,
reordered or dropped.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import random
import threading
import time
from typing import Any

import requests

from integrations.sandbox import Abort, Request, Response, iso_z, route, utc_now

log = logging.getLogger(__name__)

#: Sandbox record kind → Procore's resource name in triggers and events (modelled).
RESOURCE_OF = {
    "user": "Company Users",
    "project": "Projects",
    "sub_job": "Sub Jobs",
    "crew": "Crews",
    "standard_cost_code": "Standard Cost Codes",
}
HOOKS = "/rest/v1.0/webhooks/hooks"
NO_FAULTS = {"delay": 0.0, "duplicate": 0.0, "reorder": 0.0, "drop": 0.0}


class Webhooks:
    """Hooks (kept in the store, so a reset forgets them) and a delivery thread."""

    #: Seconds before the first retry of a failed delivery; each next gap doubles.
    delivery_retry_base = 1.0
    delivery_retries = 5
    delivery_timeout = 10.0

    def _start_deliveries(self) -> None:
        self._outbox: list[tuple[float, int, dict]] = []
        self._outbox_ready = threading.Condition()
        self._seq = itertools.count()
        self._event_ids = itertools.count(int(time.time() * 1000))
        self._random = random.Random(1)  # noqa: S311 (faults, not secrets)
        self.delivery_faults = dict(NO_FAULTS)
        threading.Thread(target=self._deliver_forever, daemon=True, name="deliveries").start()

    # changes deliver events -----------------------------------------------------------

    def add(self, kind: str, fields: dict, *, scope: int | None = None) -> dict:
        added = super().add(kind, fields, scope=scope)
        self._changed(kind, added["id"], "create")
        return added

    def update(self, kind: str, record_id: int, **fields: Any) -> dict:
        updated = super().update(kind, record_id, **fields)
        self._changed(kind, int(record_id), "update")
        return updated

    def remove(self, kind: str, record_id: int) -> None:
        company, project = self._owners(kind, int(record_id))
        super().remove(kind, record_id)
        self._changed(kind, int(record_id), "delete", company, project)

    def _owners(self, kind: str, record_id: int) -> tuple[int | None, int | None]:
        scope = self.store.scope_of(kind, record_id)
        if kind in ("sub_job", "crew"):  # they live in a project
            return self.store.scope_of("project", scope) if scope else None, scope
        if kind == "standard_cost_code":  # it lives in a cost code list
            return self.store.scope_of("standard_cost_code_list", scope) if scope else None, None
        return scope, (record_id if kind == "project" else None)

    def _changed(self, kind, record_id, event_type, company=None, project=None) -> None:
        resource = RESOURCE_OF.get(kind)
        if resource is None:
            return
        if company is None:
            company, project = self._owners(kind, record_id)
        for hook in self._hooks().values():
            if hook["company_id"] != company or not any(
                t["resource_name"] == resource and t["event_type"] == event_type
                for t in hook["triggers"].values()
            ):
                continue
            event = {
                "id": next(self._event_ids),
                "timestamp": iso_z(utc_now()),
                "company_id": company,
                "project_id": project,
                "user_id": 1,
                "resource_name": resource,
                "resource_id": record_id,
                "event_type": event_type,
                "api_version": "v2",
                "metadata": {"source_application_id": None},
            }
            self._post_later(hook["id"], event)

    # the delivery thread --------------------------------------------------------------

    def _post_later(self, hook_id: int, event: dict) -> None:
        faults = self.delivery_faults
        copies = 2 if self._random.random() < faults["duplicate"] else 1
        for _ in range(copies):
            if self._random.random() < faults["drop"]:
                self._note_delivery(hook_id, event, None, 0)  # Procore gave up on it
                continue
            wait = faults["delay"] + self._random.random() * faults["reorder"]
            self._schedule(time.monotonic() + wait, {"hook": hook_id, "event": event, "try": 0})

    def _schedule(self, due: float, job: dict) -> None:
        with self._outbox_ready:
            heapq.heappush(self._outbox, (due, next(self._seq), job))
            self._outbox_ready.notify()

    def _deliver_forever(self) -> None:
        while True:
            with self._outbox_ready:
                while not self._outbox or self._outbox[0][0] > time.monotonic():
                    timeout = self._outbox[0][0] - time.monotonic() if self._outbox else None
                    self._outbox_ready.wait(timeout)
                _, _, job = heapq.heappop(self._outbox)
            try:
                self._deliver(job)
            except Exception:  # a sandbox thread must never die
                log.exception("sandbox delivery failed")

    def _deliver(self, job: dict) -> None:
        hook = self._hooks().get(str(job["hook"]))
        if hook is None:
            return  # removed meanwhile
        try:
            status = requests.post(
                hook["destination_url"],
                json=job["event"],
                headers=hook["destination_headers"],
                timeout=self.delivery_timeout,
            ).status_code
        except requests.RequestException:
            status = None
        self._note_delivery(hook["id"], job["event"], status, job["try"])
        if not (status and 200 <= status < 300) and job["try"] < self.delivery_retries:
            gap = self.delivery_retry_base * 2 ** job["try"]
            self._schedule(time.monotonic() + gap, {**job, "try": job["try"] + 1})

    def _note_delivery(self, hook_id: int, event: dict, status: int | None, tries: int) -> None:
        with self.store.transaction():
            deliveries = self.store.kv_get("webhook_deliveries", {})
            mine = deliveries.setdefault(str(hook_id), [])
            now = iso_z(utc_now())
            mine.append(
                {
                    "id": len(mine) + 1,
                    "event_id": event["id"],
                    "started_at": now,
                    "completed_at": now,
                    "response_status": status,
                    "retry_count": tries,
                }
            )
            self.store.kv_set("webhook_deliveries", deliveries)

    def _forget_traffic(self) -> None:
        """A reset also forgets deliveries waiting to go and the delivery faults."""
        super()._forget_traffic()
        if hasattr(self, "_outbox"):
            with self._outbox_ready:
                self._outbox.clear()
            self.delivery_faults = dict(NO_FAULTS)

    # hooks and triggers ---------------------------------------------------------------

    def _hooks(self) -> dict[str, dict]:
        return self.store.kv_get("webhook_hooks", {})

    def _save_hooks(self, hooks: dict[str, dict]) -> None:
        self.store.kv_set("webhook_hooks", hooks)

    def _hook(self, req: Request) -> tuple[dict, dict]:
        company = self.company(req, req.int_arg("company_id") or _body_company(req))
        hooks = self._hooks()
        hook = hooks.get(str(req.params["hook"]))
        if hook is None or hook["company_id"] != company["id"]:
            raise Abort(404, f"Hook {req.params['hook']} not found")
        return hooks, hook

    @staticmethod
    def _public_hook(hook: dict) -> dict:
        return {k: v for k, v in hook.items() if k != "triggers"}

    @route("GET", HOOKS)
    def list_hooks(self, req: Request) -> list[dict]:
        company = self.company(req, req.int_arg("company_id"))
        namespace = req.arg("namespace")
        return [
            self._public_hook(h)
            for h in self._hooks().values()
            if h["company_id"] == company["id"] and namespace in (None, h["namespace"])
        ]

    @route("POST", HOOKS)
    def create_hook(self, req: Request) -> Response:
        body = req.json() or {}
        company = self.company(req, _body_company(req))
        fields = body.get("hook") or {}
        if not str(fields.get("destination_url") or "").startswith(("https://", "http://")):
            raise Abort(422, body={"errors": {"destination_url": ["must be a URL"]}})
        hooks = self._hooks()
        hook_id = max((int(k) for k in hooks), default=9_000_000_000) + 1
        hooks[str(hook_id)] = {
            "id": hook_id,
            "company_id": company["id"],
            "namespace": fields.get("namespace") or "",
            "api_version": fields.get("api_version") or "v2",
            "destination_url": fields["destination_url"],
            "destination_headers": dict(fields.get("destination_headers") or {}),
            "triggers": {},
        }
        self._save_hooks(hooks)
        return Response(201, self._public_hook(hooks[str(hook_id)]))

    @route("PATCH", HOOKS + "/{hook}")
    def update_hook(self, req: Request) -> dict:
        hooks, hook = self._hook(req)
        for name in ("destination_url", "destination_headers", "namespace"):
            if name in ((req.json() or {}).get("hook") or {}):
                hook[name] = req.json()["hook"][name]
        self._save_hooks(hooks)
        return self._public_hook(hook)

    @route("DELETE", HOOKS + "/{hook}")
    def delete_hook(self, req: Request) -> Response:
        hooks, hook = self._hook(req)
        del hooks[str(hook["id"])]
        self._save_hooks(hooks)
        return Response(204)

    @route("GET", HOOKS + "/{hook}/triggers")
    def list_triggers(self, req: Request) -> list[dict]:
        return list(self._hook(req)[1]["triggers"].values())

    @route("POST", HOOKS + "/{hook}/triggers")
    def create_trigger(self, req: Request) -> Response:
        hooks, hook = self._hook(req)
        fields = (req.json() or {}).get("trigger") or {}
        if fields.get("event_type") not in ("create", "update", "delete"):
            raise Abort(422, body={"errors": {"event_type": ["must be create, update or delete"]}})
        trigger_id = hook["id"] * 100 + len(hook["triggers"]) + 1
        while str(trigger_id) in hook["triggers"]:
            trigger_id += 1
        trigger = {
            "id": trigger_id,
            "resource_name": str(fields.get("resource_name") or ""),
            "event_type": fields["event_type"],
        }
        hook["triggers"][str(trigger_id)] = trigger
        self._save_hooks(hooks)
        return Response(201, trigger)

    @route("DELETE", HOOKS + "/{hook}/triggers/{trigger}")
    def delete_trigger(self, req: Request) -> Response:
        hooks, hook = self._hook(req)
        if hook["triggers"].pop(str(req.params["trigger"]), None) is None:
            raise Abort(404, f"Trigger {req.params['trigger']} not found")
        self._save_hooks(hooks)
        return Response(204)

    @route("GET", HOOKS + "/{hook}/deliveries")
    def list_deliveries(self, req: Request) -> list[dict]:
        _, hook = self._hook(req)
        return self.store.kv_get("webhook_deliveries", {}).get(str(hook["id"]), [])

    @route("POST", "/_sandbox/webhooks")
    def set_delivery_faults(self, req: Request) -> dict:
        """{"delay": s, "duplicate": p, "reorder": s, "drop": p}; {} clears them."""
        wanted = req.json() or {}
        unknown = set(wanted) - set(NO_FAULTS)
        if unknown:
            raise Abort(400, body={"error": f"unknown delivery faults: {sorted(unknown)}"})
        self.delivery_faults = {**NO_FAULTS, **{k: float(v) for k, v in wanted.items()}}
        return self.delivery_faults

    # single-record reads --------------------------------------------------------------

    @route("GET", "/rest/v1.3/companies/{cid}/users/{id}")
    def one_user(self, req: Request) -> dict:
        company = self.company(req, req.params["cid"])
        return self._one("user", req.params["id"], company["id"])

    @route("GET", "/rest/v1.1/projects/{id}")
    def one_project(self, req: Request) -> dict:
        company = self.company(req, req.int_arg("company_id"))
        return self._one("project", req.params["id"], company["id"])

    @route("GET", "/rest/v1.0/sub_jobs/{id}")
    def one_sub_job(self, req: Request) -> dict:
        company, project = self.project(req, req.int_arg("project_id"))
        self.need(company, "sub_jobs")
        return self._one("sub_job", req.params["id"], project["id"])

    @route("GET", "/rest/v1.0/projects/{pid}/crews/{id}")
    def one_crew(self, req: Request) -> dict:
        _, project = self.project(req, req.params["pid"])
        return self._one("crew", req.params["id"], project["id"])

    @route("GET", "/rest/v1.0/standard_cost_codes/{id}")
    def one_standard_cost_code(self, req: Request) -> dict:
        company = self.company(req, req.int_arg("company_id"))
        self.need(company, "cost_codes")
        list_id = self.store.scope_of("standard_cost_code", req.params["id"])
        owner = list_id and self.store.scope_of("standard_cost_code_list", list_id)
        if owner != company["id"]:
            raise Abort(404, f"Standard Cost Codes record {req.params['id']} not found")
        return self._one("standard_cost_code", req.params["id"], list_id)

    def _one(self, kind: str, record_id: int, scope: int) -> dict:
        record = self.store.get(kind, record_id, scope=scope)
        if record is None:
            raise Abort(404, f"{RESOURCE_OF[kind]} record {record_id} not found")
        return {k: v for k, v in record.items() if not k.startswith("_")}


def _body_company(req: Request) -> int | None:
    body = req.json() if req.method in ("POST", "PATCH") else None
    return body.get("company_id") if isinstance(body, dict) else None
