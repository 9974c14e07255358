"""Procore's sandbox: a real HTTP server on loopback speaking Procore's API as Linx uses it.

    sandbox = ProcoreSandbox(tmp_path / "procore.sqlite3", token_lifetime=60)
    url = sandbox.start()  # login and API host both
    ...
    sandbox.stop()

The generated company and its named cases are in `data`; the endpoints in `server`.
"""

from integrations.procore.sandbox.data import CLIENT_ID, CLIENT_SECRET, COMPANY_ID
from integrations.procore.sandbox.server import ProcoreSandbox

__all__ = ["CLIENT_ID", "CLIENT_SECRET", "COMPANY_ID", "ProcoreSandbox"]
