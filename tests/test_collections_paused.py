"""A big run collects garbage less often, and leaves the collector as it found it."""

import gc

import pytest

from linx.sync.collections_paused import YOUNG, fewer_collections


def test_thresholds_raised_while_open_and_restored_after_the_last_user_even_on_error():
    before = gc.get_threshold()
    with fewer_collections():
        assert gc.get_threshold()[0] >= YOUNG
        assert gc.isenabled()  # slowed down, never switched off
        with pytest.raises(RuntimeError), fewer_collections():
            raise RuntimeError("the run failed")
        assert gc.get_threshold()[0] >= YOUNG  # the outer run is still going
    assert gc.get_threshold() == before
