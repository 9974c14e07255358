"""Machinery shared by the Procore and ExakTime sandbox servers.

A sandbox is a real HTTP server on loopback that speaks one wire contract, so Linx runs,
demos and is tested end to end with no account anywhere. This package holds what both have
in common: the SQLite store (`store`), requests, answers and the router (`wire`),
rate-limit windows and fault injection (`faults`), and the server with its request log and
`/_sandbox/` control and inspection endpoints (`server`). The wire formats themselves live
in `integrations/procore/sandbox/` and `integrations/exaktime/sandbox/`.
"""

from integrations.sandbox.faults import FAULT_KINDS, Fault, Faults, RateLimiter, RateState
from integrations.sandbox.server import STATE_DIR, SandboxServer
from integrations.sandbox.store import Store, field_sql, iso_z, utc_now
from integrations.sandbox.wire import Abort, Request, Response, route

__all__ = [
    "FAULT_KINDS",
    "STATE_DIR",
    "Abort",
    "Fault",
    "Faults",
    "RateLimiter",
    "RateState",
    "Request",
    "Response",
    "SandboxServer",
    "Store",
    "field_sql",
    "iso_z",
    "route",
    "utc_now",
]
