"""Fewer garbage collections while a run holds many objects at once.

An export of a big week keeps tens of thousands of records, plans, ledger lines and
rows alive until it ends, and makes many small objects per record. Python's cyclic
collector runs after every 700 allocations and walks the young objects each time (the
older ones now and then): with such a heap that was a tenth of an export's CPU, and a
fifth of a no-change export's, for almost nothing to collect (reference counting frees
what these runs drop). An import holds a company's thousands of mappings all run long
the same way. While `fewer_collections` is open the collector runs less often; it is
never switched off, and the thresholds are put back when the last user leaves.
"""

from __future__ import annotations

import gc

from linx.sync.process_settings import WhileRunning

#: Allocations between two collections of the youngest generation (Python's default: 700).
YOUNG = 50_000
#: Collections of a generation between two of the next older one (Python's default: 10).
OLDER = 20


def _raised(before: tuple[int, ...]) -> None:
    young, *older = before
    gc.set_threshold(max(young, YOUNG), *(max(t, OLDER) for t in older))


fewer_collections = WhileRunning(
    gc.get_threshold, _raised, lambda before: gc.set_threshold(*before)
)
