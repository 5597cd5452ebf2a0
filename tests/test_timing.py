"""Interleaved timing (core.timing): rotation, warm-up, per-item medians and ranges."""

import time

import pytest

from core import timing


def test_rounds_rotate_the_order_and_warm_up_untimed():
    order = []
    calls = {n: (lambda n=n: order.append(n)) for n in "abc"}
    result = timing.interleaved(calls, rounds=3, warmup=1)
    assert order == list("abc") + list("abc") + list("bca") + list("cab")
    assert set(result) == set("abc") and all(t.rounds == 3 for t in result.values())


def test_medians_per_item_follow_the_work_and_the_range_holds_them():
    result = timing.interleaved({"slow": lambda: time.sleep(0.02), "fast": lambda: time.sleep(0.002)}, items=2,
                                rounds=3, warmup=0)
    slow, fast = result["slow"], result["fast"]
    assert slow.low_ms <= slow.median_ms <= slow.high_ms and slow.median_ms >= 10  # 20 ms for 2 items
    assert fast.median_ms < slow.median_ms
    assert str(slow).endswith("3 interleaved rounds)")


def test_no_rounds_is_refused():
    with pytest.raises(ValueError, match="at least 1"):
        timing.interleaved({"a": lambda: None}, rounds=0)
