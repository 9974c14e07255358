"""Until tests/conftest.py loads `tests.sandboxes` for the whole suite, load it here."""

from tests.sandboxes import (  # noqa: F401
    _exaktime_sandbox_server,
    _procore_sandbox_server,
    exaktime_sandbox,
    procore_sandbox,
)
