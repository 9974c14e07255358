"""The operations console: one module per screen."""

from linx.admin import connections, mappings, reference, runs, schedules, users  # noqa: F401
