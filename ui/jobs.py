"""Training jobs started from a page: the runs are created (queued) first, then one process is started
to carry them out; the browser session keeps the process id and the run ids, and follows those ids.

Nothing is matched by time or by dataset: a session sees, and stops, only the jobs it started.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import streamlit as st

from core.data.types import DataError
from core.engine import estimates
from core.engine import launch as launcher
from core.engine.store import LIVE, Run, RunStore, RunStoreError
from ui import sidebar


@dataclass(frozen=True)
class Job:
    pid: int
    run_ids: tuple[str, ...]
    log: str  # the process's output: its error line when it fails before a run starts
    started: float

    def runs(self, store: RunStore | None = None) -> list[Run]:
        """Its runs still in the store (a run stopped while queued is removed)."""
        store = store or RunStore()
        found = []
        for i in self.run_ids:
            with contextlib.suppress(KeyError):
                found.append(store.get(i))
        return found

    def removed(self, store: RunStore | None = None) -> list[str]:
        """Its runs stopped before they started, and so removed."""
        kept = {r.id for r in self.runs(store)}
        return [i for i in self.run_ids if i not in kept]


def _key(prefix: str) -> str:
    return f"{prefix}.job"


def launch(run_ids: list[str], force_cpu: bool = False, store: RunStore | None = None) -> Job:
    """Start the worker for these queued runs (core.worker.launch: its own process group, its own log); the runs
    learn the process id, so that they are marked failed if it dies before finishing them."""
    store = store or RunStore()
    proc = launcher.launch(run_ids, store, force_cpu=force_cpu)
    return Job(proc.pid, tuple(run_ids), str(launcher.log_path(store, run_ids, "job")), time.time())


def alive(pid: int) -> bool:
    """Whether the job still runs (reaping it when it has ended)."""
    try:
        finished, _ = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return False
    return finished == 0


def last_error(log: str) -> str:
    """The last "error: …" line the job wrote, without its prefix; "" if none."""
    path = Path(log)
    lines = path.read_text(errors="replace").splitlines() if path.is_file() else []
    errors = [ln for ln in lines if ln.startswith("error: ")]
    return errors[-1].removeprefix("error: ") if errors else ""


def start(prefix: str, run_ids: list[str], force_cpu: bool = False) -> Job:
    """Launch and remember the job in this browser session. How the previous job ended (f"{prefix}.failed",
    ".stopped", ".removed") is shown until now: a message taken out of the session as it is drawn is lost when a
    newer rerun interrupts that script run, as happens when a job ends while the page is busy."""
    for outcome in ("failed", "stopped", "removed"):
        st.session_state.pop(f"{prefix}.{outcome}", None)
    job = launch(run_ids, force_cpu)
    st.session_state[_key(prefix)] = job
    return job


def queue_and_start(prefix: str, queue: Callable[[], list[str]], force_cpu: bool = False) -> None:
    """Queue the runs (a refusal is kept for the page to show under f"{prefix}.failed"), then start the worker,
    one process that carries them out in order."""
    try:
        run_ids = queue()
    except (ValueError, DataError, RunStoreError) as exc:
        st.session_state[f"{prefix}.failed"] = [str(exc)]
        return
    start(prefix, run_ids, force_cpu)


def current(prefix: str) -> Job | None:
    return st.session_state.get(_key(prefix))


def stop(prefix: str) -> None:
    """SIGTERM to this session's job's process group: the trainer marks its run stopped and exits."""
    job = current(prefix)
    if job is not None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(job.pid, signal.SIGTERM)
        st.session_state[f"{prefix}.stopping"] = True


@dataclass(frozen=True)
class Ended:
    done: list[str]  # run ids
    stopped: list[str]
    failed: list[str]  # one message per failed run
    removed: list[str] = ()  # run ids stopped while queued: never started, so removed from the store


def settle(prefix: str) -> Ended | None:
    """When this session's job has ended: forget it and say how each of its runs ended; None while it runs."""
    job = current(prefix)
    if job is None or alive(job.pid):
        return None
    runs = job.runs()
    if any(r.status == "running" for r in runs):  # the process is gone; its row is being finalised
        return None
    st.session_state.pop(_key(prefix), None)
    st.session_state.pop(f"{prefix}.stopping", None)
    failed = [f"{r.id}: {r.message}" for r in runs if r.status == "failed"]
    if not failed and any(r.status in LIVE for r in runs):
        failed = [last_error(job.log) or f"the training process {job.pid} ended before its runs started; they stay "
                  "queued, and the app starts another process for them (the Runs page follows them)"]
    return Ended([r.id for r in runs if r.status == "done"], [r.id for r in runs if r.status == "stopped"], failed,
                 job.removed())


def follow(prefix: str, on_end: Callable[[Ended], None]) -> Job | None:
    """This session's job while it runs (for a live view), else None. When it has just ended: its failures
    and stopped runs are kept for the page to show (f"{prefix}.failed", f"{prefix}.stopped"), on_end sees how it
    ended, and the whole page reruns."""
    job = current(prefix)
    if job is None:
        return None
    ended = settle(prefix)
    if ended is not None:
        st.session_state[f"{prefix}.failed"] = ended.failed
        st.session_state[f"{prefix}.stopped"] = ended.stopped
        st.session_state[f"{prefix}.removed"] = list(ended.removed)
        on_end(ended)
        st.rerun(scope="app")
    message = waiting(prefix, job)
    if message:  # the live views have nothing to show yet: the place in line, and Stop
        st.info(message, icon=":material/schedule:")
        stop_button(prefix)
        return None
    return job


def ordinal(n: int) -> str:
    return f"{n}{'th' if 10 <= n % 100 <= 20 else {1: 'st', 2: 'nd', 3: 'rd'}.get(n % 10, 'th')}"


def waiting(prefix: str, job: Job) -> str:
    """While the job's next run waits for a slot: its place in line, in words; else ""."""
    runs = job.runs()
    if not runs:  # stopped while queued: its runs are gone, its process is ending
        return "Stopped before it started: its queued runs are removed."
    if any(r.status == "running" for r in runs) or st.session_state.get(f"{prefix}.stopping"):
        return ""
    first = next((r for r in runs if r.status == "queued"), None)
    queue = (first.metrics.get("queue") or {}) if first is not None else {}
    if not queue:
        return ""
    limit = int(queue.get("limit", 1))
    return (f"Waiting in the queue: {ordinal(int(queue['place']))} in line, {limit} run{'s' * (limit > 1)} at a "
            "time on this machine. It starts by itself, even if this tab is closed; the Runs page shows the "
            "queue. Stop removes it.")



def running_run(job: Job) -> tuple[Run, str]:
    """The job's run being carried out now (else its first), and "k of n" for a status line."""
    runs = job.runs()
    run = next((r for r in runs if r.status == "running"), runs[0])
    return run, f"{[r.id for r in runs].index(run.id) + 1} of {len(runs)}"


def estimate(experiment: str, configs: list[Mapping], count: bool = False) -> str:
    """" (about 70 s here)" for a Train button: the sum of this machine's past runs of these stored configs (never a
    figure written in advance), or "" when any of them has not run here; count: say how many runs it goes by."""
    past = [estimates.past_seconds(experiment, c) for c in configs]
    seconds = estimates.total(past)
    if seconds is None or not configs:
        return ""
    runs = sum(p[1] for p in past if p is not None)
    return f" ({estimates.words(seconds)} here" + (f", from {runs} past run{'s' * (runs > 1)})" if count else ")")


def panel(prefix: str, progress: Callable[[Job], None], on_end: Callable[[Ended], None] = lambda ended: None,
          stopping: str = "Stopping: the run keeps its last checkpoint…") -> None:
    """The one job panel every training page shows: this session's job under prefix, polled every 2 s; its place
    in line while it waits, progress(job) while it runs (the page's phase, k of n, epoch and figures, time left),
    "Stopping…" once Stop is pressed, and Stop. When the job ends, on_end sees how, and the page reruns to show it
    (see follow)."""
    @sidebar.live(run_every=2)
    def view() -> None:
        job = follow(prefix, on_end)
        if job is None:
            return
        if st.session_state.get(f"{prefix}.stopping"):
            st.info(stopping, icon=":material/stop_circle:")
        else:
            progress(job)
        stop_button(prefix)
    view()


def stop_button(prefix: str) -> None:
    """Stop, disabled once pressed (the run then ends at its next step)."""
    stopping = bool(st.session_state.get(f"{prefix}.stopping"))
    # a callback, not the button's return value: the live view reruns every 2 s, and a click that lands while
    # it reruns still runs its callback first, where a return value could be read by a run that had moved on
    st.button("Stop", key=f"{prefix}.stop", icon=":material/stop:", disabled=stopping, on_click=stop, args=(prefix,))
