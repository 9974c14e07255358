"""ExakTime's sandbox: a real HTTP server on loopback speaking ExakTime's API as Linx uses it.

    sandbox = ExakTimeSandbox(tmp_path / "exaktime.sqlite3")
    url = sandbox.start()
    ...  # import into it, then sandbox.generate_time_records() for a week of punches
    sandbox.stop()

The accounts, keys and starting records are in `data`; the collections in `server`.
"""

from integrations.exaktime.sandbox.data import API_KEY, READ_ONLY_API_KEY
from integrations.exaktime.sandbox.server import ExakTimeSandbox

__all__ = ["API_KEY", "READ_ONLY_API_KEY", "ExakTimeSandbox"]
