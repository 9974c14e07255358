"""A run's threads hand over sooner while it runs, and the interval is put back after."""

import sys

import pytest

from linx.sync.thread_handoffs import INTERVAL, quick_handoffs


def test_interval_shortened_while_open_and_restored_after_the_last_user_even_on_error():
    before = sys.getswitchinterval()
    with quick_handoffs():
        assert sys.getswitchinterval() == pytest.approx(min(before, INTERVAL))
        with pytest.raises(RuntimeError), quick_handoffs():
            raise RuntimeError("the run failed")
        assert sys.getswitchinterval() == pytest.approx(min(before, INTERVAL))  # still going
    assert sys.getswitchinterval() == before
