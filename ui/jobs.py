"""Training jobs started from a page: the runs are created (queued) first, then one process is started
to carry them out, and the job (its page, process id, run ids, the tab that started it) is written to the runs
folder's jobs/ as well as kept in the browser session.

A job belongs to its page and its tab, not to one script run: a reload finds the tab's job still in progress and
follows it again, with progress and Stop; another tab (or browser) on the same page shows it too, as started
elsewhere, with its progress and a Stop of its own, and can still start jobs of its own. Nothing is matched by time
or by dataset: a job is found by the page and tab that started it, and followed by its run ids.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import streamlit as st

from core.data.types import DataError
from core.engine import estimates, liveness
from core.engine import launch as launcher
from core.engine.store import LIVE, Run, RunStore, RunStoreError
from core.runs import control
from ui import sidebar

TAB = "tab"  # the query parameter that names this browser tab, so that a reload still knows its own jobs


@dataclass(frozen=True)
class Job:
    pid: int
    run_ids: tuple[str, ...]
    log: str  # the process's output: its error line when it fails before a run starts
    started: float
    owner: str = ""  # the tab that started it (TAB)
    prefix: str = ""  # the page's part that started it

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


def tab() -> str:
    """This browser tab's name: kept in the URL (a reload keeps it; a new tab opened on the page gets its own)."""
    if TAB not in st.session_state:
        st.session_state[TAB] = st.query_params.get(TAB) or uuid.uuid4().hex[:8]
    if st.query_params.get(TAB) != st.session_state[TAB]:
        st.query_params[TAB] = st.session_state[TAB]
    return st.session_state[TAB]


def _jobs_folder(store: RunStore) -> Path:
    return store.folder / "jobs"


def _record(job: Job, store: RunStore) -> None:
    """Write the job beside the runs, for other tabs and reloads of its page (best effort: the runs are what count)."""
    with contextlib.suppress(OSError):
        folder = _jobs_folder(store)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{job.pid}.json").write_text(json.dumps(
            {"pid": job.pid, "run_ids": list(job.run_ids), "log": job.log, "started": job.started,
             "owner": job.owner, "prefix": job.prefix}))


def recorded(prefix: str, store: RunStore | None = None) -> list[Job]:
    """The jobs this page part started (in any tab) whose runs are still queued or running, oldest first; the files
    of jobs that have ended are removed."""
    store = store or RunStore()
    found = []
    for path in sorted(_jobs_folder(store).glob("*.json")) if _jobs_folder(store).is_dir() else []:
        try:
            d = json.loads(path.read_text())
            job = Job(int(d["pid"]), tuple(d["run_ids"]), str(d["log"]), float(d["started"]), str(d.get("owner", "")),
                      str(d.get("prefix", "")))
        except (OSError, ValueError, KeyError, TypeError):
            continue
        live = [r for r in job.runs(store) if r.status in LIVE]
        if not live and not running(job.pid):
            with contextlib.suppress(OSError):
                path.unlink()
            continue
        if job.prefix == prefix and live and running(job.pid):  # an orphaned queue is resumed by another process
            found.append(job)
    return sorted(found, key=lambda j: j.started)


def launch(run_ids: list[str], force_cpu: bool = False, store: RunStore | None = None) -> Job:
    """Start the worker for these queued runs (core.worker.launch: its own process group, its own log); the runs
    learn the process id, so that they are marked failed if it dies before finishing them."""
    store = store or RunStore()
    proc = launcher.launch(run_ids, store, force_cpu=force_cpu)
    return Job(proc.pid, tuple(run_ids), str(launcher.log_path(store, run_ids, "job")), time.time())


def alive(pid: int) -> bool:
    """Whether the job still runs (reaping it when it has ended, when this server started it)."""
    try:
        finished, _ = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:  # not this process's child (started before a restart of the app): ask the system
        return running(pid)
    return finished == 0


def running(pid: int) -> bool:
    return liveness.alive(pid, None)


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
    job = Job(job.pid, job.run_ids, job.log, job.started, tab(), prefix)
    _record(job, RunStore())
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
    """This page part's job: the one this session follows, else one this tab started before a reload whose runs are
    still queued or running (from then on this session follows it again)."""
    job = st.session_state.get(_key(prefix))
    if job is None:
        found = [j for j in recorded(prefix) if j.owner == tab()]
        if found:
            job = st.session_state[_key(prefix)] = found[0]
    return job


def others(prefix: str) -> list[Job]:
    """The jobs other tabs or browsers started on this page part, still queued or running."""
    mine = current(prefix)
    return [j for j in recorded(prefix) if j.owner != tab() and (mine is None or j.pid != mine.pid)]


def stop_pid(pid: int) -> None:
    control.stop_process(pid)


def stop(prefix: str) -> None:
    """Stop this session's job's process group (core.runs.control, which also wakes a paused one): the trainer marks
    its run stopped and exits."""
    job = current(prefix)
    if job is not None:
        control.stop_process(job.pid)
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
          stopping: str = "Stopping: the run keeps its last checkpoint…",
          stopped: str = "It keeps its last checkpoint.") -> None:
    """The one job panel every training page shows, on the page itself (never inside a folded section): this page
    part's job, polled every 2 s; who started it when another tab did; its place in line while it waits,
    progress(job) while it runs (the page's phase, k of n, batches, figures, time left), "Stopping…" once Stop is
    pressed, and Stop. When the job ends, on_end sees how, the page reruns, and how it ended stays shown (outcome)
    until the next job starts."""
    css = prefix.replace(".", "-")

    @sidebar.live(run_every=2)
    def view() -> None:
        with st.container(key=f"job-own-{css}"):
            job = follow(prefix, on_end)
            if job is not None:
                if st.session_state.get(f"{prefix}.stopping"):
                    st.info(stopping, icon=":material/stop_circle:")
                else:
                    progress(job)
                stop_button(prefix)
        for other in others(prefix):
            with st.container(border=True, key=f"job-elsewhere-{css}-{other.pid}"):
                st.caption("Started elsewhere (another tab or browser) on this page")
                _line(other)
                st.button("Stop that job", key=f"{prefix}.stop.{other.pid}", icon=":material/stop:",
                          on_click=stop_pid, args=(other.pid,))
    view()
    outcome(prefix, stopped)


def _line(job: Job) -> None:
    """A job followed from another tab: which run, how far, in one bar (the page's own figures are for its own job)."""
    runs = job.runs()
    if not runs:
        return
    run, nth = running_run(job)
    if run.status == "running":
        epochs = int(run.config.get("epochs", 1) or 1)
        done = estimates.fraction_done(run.history, run.metrics.get("phase"), epochs)
        st.progress(done, text=f"Training {run.config.get('strategy') or run.experiment} ({nth}): epoch "
                               f"{min(len(run.history) + 1, epochs)} of {epochs}")
    else:
        queue = run.metrics.get("queue") or {}
        st.caption(f"{run.config.get('strategy') or run.experiment} ({nth}): queued" +
                   (f", {ordinal(int(queue['place']))} in line" if queue else ""))


def outcome(prefix: str, stopped: str) -> None:
    """How this page part's last job ended, kept in the session until the next one starts."""
    for message in st.session_state.get(f"{prefix}.failed", []):
        st.error(f"A run did not finish: {message}", icon=":material/error:")
    done = st.session_state.get(f"{prefix}.stopped", [])
    if done:
        st.success(f"Stopped: {len(done)} run(s) ({', '.join(done)}). {stopped}", icon=":material/stop_circle:")
    removed = st.session_state.get(f"{prefix}.removed", [])
    if removed:
        st.success(f"Removed {len(removed)} queued run(s) that had not started.", icon=":material/playlist_remove:")


def stop_button(prefix: str) -> None:
    """Stop, disabled once pressed (the run then ends at its next step)."""
    stopping = bool(st.session_state.get(f"{prefix}.stopping"))
    # a callback, not the button's return value: the live view reruns every 2 s, and a click that lands while
    # it reruns still runs its callback first, where a return value could be read by a run that had moved on
    st.button("Stop", key=f"{prefix}.stop", icon=":material/stop:", disabled=stopping, on_click=stop, args=(prefix,))
