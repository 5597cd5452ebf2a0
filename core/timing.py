"""Honest speed comparisons: every variant timed on the same inputs, warmed up, in interleaved rounds (A B C, then
B C A, ...), so that a busy moment on a shared machine falls on all of them alike; reported as the median with the
range, never as one number measured once."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

import psutil
import torch

from core import devices

ROUNDS = 5


@dataclass(frozen=True)
class Timing:
    median_ms: float  # per item (image), the median over rounds
    low_ms: float
    high_ms: float
    rounds: int
    others: float = 0.0  # the share of the machine's CPUs other processes used around the timing (0 to 1)

    @property
    def busy(self) -> bool:
        return self.others >= BUSY

    def __str__(self) -> str:
        return (f"{self.median_ms:,.1f} ms (range {self.low_ms:,.1f}–{self.high_ms:,.1f}, {self.rounds} interleaved "
                f"rounds)" + (f", measured while other work used {self.others:.0%} of the CPUs" if self.busy else ""))


BUSY = 0.25  # other processes using this share of the CPUs or more: timings are slower than on a quiet machine


def others_load(interval: float = 0.25) -> float:
    """The share of this machine's CPUs that other processes use now (this process left out), over `interval` s."""
    me = psutil.Process()
    me.cpu_percent(None)
    total = psutil.cpu_percent(interval=interval) * (psutil.cpu_count() or 1)
    return max(total - me.cpu_percent(None), 0.0) / (100.0 * (psutil.cpu_count() or 1))


def busy_words(timings: dict[str, Timing]) -> str:
    """A warning for timings measured while other work shared the machine, else ""."""
    worst = max((t.others for t in timings.values()), default=0.0)
    if worst < BUSY:
        return ""
    return (f"Other work used {worst:.0%} of this machine's CPUs while these were timed (training runs, another "
            "page): the times are slower than on a quiet machine, and only their ratio is meaningful.")


def interleaved(calls: dict[str, Callable[[], object]], items: int = 1, rounds: int = ROUNDS, warmup: int = 1,
                device: torch.device | None = None) -> dict[str, Timing]:
    """Time each call `rounds` times, rotating which goes first each round, after `warmup` untimed calls of each;
    items: how many images one call handles (times are per item). On a GPU each call is synchronised."""
    if rounds < 1 or items < 1:
        raise ValueError(f"rounds and items must be at least 1 (got {rounds}, {items})")
    dev = device or torch.device("cpu")
    names = list(calls)
    for _ in range(warmup):
        for name in names:
            calls[name]()
    times: dict[str, list[float]] = {n: [] for n in names}
    before = others_load()
    for r in range(rounds):
        for name in names[r % len(names):] + names[:r % len(names)]:
            devices.synchronize(dev)
            start = time.perf_counter()
            calls[name]()
            devices.synchronize(dev)
            times[name].append((time.perf_counter() - start) * 1000 / items)
    others = max(before, others_load())
    return {n: Timing(statistics.median(t), min(t), max(t), rounds, others) for n, t in times.items()}


def into(variants: dict[str, dict[str, float]], extra: dict, timings: dict[str, Timing]) -> None:
    """Put interleaved timings into a Comparison's metrics (ms_per_image: the median) and extra (ms_range)."""
    for name, t in timings.items():
        variants[name]["ms_per_image"] = t.median_ms
    extra["ms_range"] = {n: [t.low_ms, t.high_ms] for n, t in timings.items()}
    extra["timing_busy"] = busy_words(timings)
