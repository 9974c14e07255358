"""The operations console: one module per screen."""

from linx.admin import connections, mappings, reference, runs, users  # noqa: F401
