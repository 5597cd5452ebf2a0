"""Interleaved timing (core.timing): rotation, warm-up, per-item medians and ranges."""

import subprocess
import sys
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
    assert "3 interleaved rounds)" in str(slow)  # and, on a busy machine, that other work shared it


def test_no_rounds_is_refused():
    with pytest.raises(ValueError, match="at least 1"):
        timing.interleaved({"a": lambda: None}, rounds=0)


def test_timings_taken_while_another_process_works_say_so():
    spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(0.5)
        found = timing.interleaved({"a": lambda: sum(range(10_000)), "b": lambda: sum(range(20_000))}, rounds=2)
    finally:
        spinner.kill()
        spinner.wait()
    assert all(t.others >= timing.BUSY for t in found.values())  # one of the CPUs spun the whole time
    assert "measured while other work used" in str(found["a"])
    assert timing.busy_words(found).startswith("Other work used")
    quiet = {"a": timing.Timing(1.0, 1.0, 1.0, 1, others=0.0)}
    assert timing.busy_words(quiet) == "" and "measured while" not in str(quiet["a"])
