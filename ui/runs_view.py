"""The Runs page's parts: the table of every run, what can be done to one run (rename, tag, note, pin, delete,
export) and the comparison of several (curves overlaid, configs side by side, parallel coordinates)."""

from __future__ import annotations

import json

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from core import numbers, plots
from core import runs as runlist
from core.engine import estimates
from core.engine.liveness import ADOPTED, ORPHANED
from core.engine.queue import MAX_RUNNING_ENV, max_running
from core.engine.store import LIVE, Run, RunStore, RunStoreError
from core.runs import control, export, finals
from core.studies import index
from ui import figures, jobs, resume, sidebar
from ui.settings import KEEP

COMPARE = "runs.compare"  # the runs picked: a query parameter, so that a link reopens the same comparison
TABLE = "runs.table"
NOTICE = "runs.notice"
PARALLEL_FIELDS = 6  # config axes at most, the first that differ: more become unreadable


def frame(rows: list[runlist.Row]) -> pd.DataFrame:
    """The rows as the table shows them: numbers formatted, the pinned baseline starred."""
    return pd.DataFrame({
        "run": [("★ " if r.pinned else "") + (r.name or r.id) for r in rows],
        "status": [r.status for r in rows], "study": [r.study for r in rows], "strategy": [r.strategy for r in rows],
        "seed": [r.seed for r in rows], "replicates": [r.setting for r in rows],
        "headline": [f"{r.headline} {numbers.text(r.value)}" if r.value is not None else "–" for r in rows],
        "epochs": [r.epochs for r in rows], "duration": [_duration(r.seconds) for r in rows],
        "processes": [r.processes for r in rows],
        "created": [r.created for r in rows], "dataset": [r.dataset for r in rows],
        "backbone": [r.backbone for r in rows], "tags": [", ".join(r.tags) for r in rows], "id": [r.id for r in rows]})


def _duration(seconds: float) -> str:
    return f"{seconds:,.0f} s" if seconds < 120 else f"{seconds / 60:,.1f} min"


def picked_from_table(ids: list[str]) -> None:
    """The table's row selection becomes the runs compared (a callback, before the picker is drawn)."""
    selection = st.session_state[TABLE].selection.rows
    st.session_state[COMPARE] = [ids[i] for i in selection if i < len(ids)]


def manage(run: Run, store: RunStore) -> None:
    """Rename, tag, annotate, pin, delete and export one run."""
    st.markdown(f"**{run.title}** · {run.status}" + (f" · {run.message}" if run.message else ""))
    known = sorted({t for r in store.list() for t in r.tags})
    with st.form(f"runs.label.{run.id}", border=False):
        left, right = st.columns(2)
        name = left.text_input("Name", run.name, placeholder=run.id, max_chars=80)
        tags = right.multiselect("Tags", sorted({*known, *run.tags}), default=list(run.tags), accept_new_options=True)
        note = st.text_area("Note", run.note, height=80, max_chars=2000)
        if st.form_submit_button("Save", icon=":material/save:"):
            store.label(run.id, name=name, tags=tags, note=note)
            st.toast(f"Saved {name or run.id}")
            st.rerun()
    study = index.title(run.experiment)
    left, middle, right = st.columns(3)
    if left.button(f"Unpin as {study}'s baseline" if run.pinned else f"Pin as {study}'s baseline",
                   icon=":material/push_pin:", key=f"runs.pin.{run.id}"):
        store.pin(run.id, not run.pinned)
        st.rerun()
    with middle.popover("Delete…", icon=":material/delete:", disabled=run.status in LIVE,
                        help="A queued or running run is stopped first, on its page" if run.status in LIVE else None):
        files = store.files(run.id)
        st.warning(f"Delete run {run.id} and its {len(files)} file(s)? This cannot be undone.")
        st.button("Delete for good", type="primary", key=f"runs.delete.{run.id}", on_click=_delete,
                  args=(run.id, store))
    right.caption(f"Checkpoint: {run.checkpoint_label or 'none'}")


def _delete(run_id: str, store: RunStore) -> None:
    """The delete button's callback: it runs before the pickers are drawn, so they can lose the run."""
    try:
        removed = store.delete(run_id)
    except RunStoreError as exc:
        st.session_state[NOTICE] = ("error", str(exc))
        return
    st.session_state[COMPARE] = [i for i in st.session_state.get(COMPARE, []) if i != run_id]
    st.session_state.pop("runs.manage", None)
    st.session_state[NOTICE] = ("success", f"Deleted run {run_id} and {len(removed)} file(s).")


def notice() -> None:
    """What the last delete did, once."""
    kind, text = st.session_state.pop(NOTICE, (None, ""))
    if kind:
        getattr(st, kind)(text)


def exports(runs: list[Run], store: RunStore) -> None:
    """The bundle (with the checkpoints when asked) and the one-page report of these runs."""
    stem = runs[0].id if len(runs) == 1 else f"{len(runs)}-runs"
    with_checkpoint = st.checkbox("Bundle with the checkpoint files", key="runs.export.checkpoint")
    gone = {r.id: export.missing_files(r) for r in runs} if with_checkpoint else {}
    if any(gone.values()):
        st.error("The checkpoints cannot be bundled: " + "; ".join(
            f"run {k} lacks {', '.join(p.rsplit('/', 1)[-1] for p in v)}" for k, v in gone.items() if v))
    with st.container(horizontal=True):
        st.download_button("Bundle (zip)", lambda: export.bundle(runs, store, checkpoint=with_checkpoint),
                           f"{stem}.zip", "application/zip", icon=":material/folder_zip:",
                           disabled=any(gone.values()), key="runs.export.zip")
        st.download_button("Report (HTML)", lambda: export.report_html(runs).encode(), f"{stem}.html", "text/html",
                           icon=":material/description:", key="runs.export.html",
                           help="One page, interactive figures, no network needed to view it")


def metric_names(runs: list[Run]) -> list[str]:
    return ["loss", *sorted({k for r in runs for h in r.history for k in (h.get("val") or {})})]


def compare(runs: list[Run]) -> None:
    """Curves overlaid (against epoch or time), the configs side by side with differences marked, and parallel
    coordinates of config against the headline when more than three runs are picked."""
    left, right = st.columns(2)
    names = metric_names(runs)
    metric = left.selectbox("Curve", names, key="runs.metric", **KEEP)
    against = right.radio("Against", ["epoch", "seconds"], horizontal=True, key="runs.against", **KEEP,
                          format_func={"epoch": "epoch", "seconds": "wall-clock seconds"}.get)
    figures.show(export.curves_figure(runs, metric, against), "runs.curves", f"runs-{metric}")
    st.subheader("Settings and results")
    note = runlist.replicates_note(runs)
    if note:
        st.caption(note)
    table, differ = config_frame(runs)
    st.dataframe(table.style.apply(lambda row: ["background-color: #fff3c4" if row.name in differ else ""] * len(row),
                                   axis=1), width="stretch")
    _, overs = finals.table(runs, {r.id: final_numbers(r) for r in runs})
    figures.explain("Highlighted: the fields that differ between these runs. Headline: each study's number as on "
                    "the home page (test split for the transfer studies, validation for the others). "
                    "[95% CI]: value [low, high], a percentile bootstrap over what each run was scored on"
                    + (f": {'; '.join(overs)}." if overs else "."))
    if len(runs) > 3:
        figures.show(parallel_figure(runs), "runs.parallel", "runs-parallel")


def config_frame(runs: list[Run]) -> tuple[pd.DataFrame, set[str]]:
    """Fields × runs: the headline and the last epoch's validation numbers, then every config field (those that
    differ first); and the set of fields that differ."""
    rows = {r.title: runlist.row(r) for r in runs}
    cells, _ = finals.table(runs, {r.id: final_numbers(r) for r in runs})
    table: dict[str, dict[str, str]] = {}
    for r in runs:
        row = rows[r.title]
        col = {"study": row.study, "status": row.status,
               "headline": f"{row.headline} {numbers.text(row.value)}" if row.value is not None else "–",
               "duration": _duration(row.seconds), "processes": str(row.processes)}
        col |= {f"{name} [95% CI]": cells[name][r.title] for name in cells}
        last = r.history[-1]["val"] if r.history else {}
        col |= {f"val {k} (last epoch)": numbers.text(v) for k, v in last.items()}
        col |= {k: json.dumps(v) if isinstance(v, list | dict) else str(v) for k, v in r.config.items()
                if not isinstance(v, dict)}
        table[r.title] = col
    frame = pd.DataFrame(table).fillna("–")
    differ = {k for k in frame.index if frame.loc[k].nunique() > 1}
    order = [k for k in frame.index if k in differ] + [k for k in frame.index if k not in differ]
    return frame.loc[order], differ


def final_numbers(run: Run) -> list[finals.Final]:
    """The run's final numbers with CIs, computed once per run and state (a bootstrap takes a second or two)."""
    return _final_numbers(run.id, run.status, run.updated, run)


@st.cache_data(max_entries=512, show_spinner="Bootstrapping the final numbers' CIs…")
def _final_numbers(run_id: str, status: str, updated: float, _run: Run) -> list[finals.Final]:
    return finals.of(_run)


def parallel_figure(runs: list[Run]) -> go.Figure:
    """One line per run through the config fields that differ (numbers as they are, words as codes) to its
    headline number."""
    rows = [runlist.row(r) for r in runs]
    nested = {k for r in runs for k, v in r.config.items() if isinstance(v, dict | list)}
    fields = [k for k in dict.fromkeys(k for r in runs for k in r.config if k not in nested)
              if len({json.dumps(r.config.get(k)) for r in runs}) > 1][:PARALLEL_FIELDS]
    dims = []
    for k in fields:
        values = [r.config.get(k) for r in runs]
        if all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
            dims.append(dict(label=k, values=values))
        else:
            words = sorted({str(v) for v in values})
            dims.append(dict(label=k, values=[words.index(str(v)) for v in values], tickvals=list(range(len(words))),
                             ticktext=words))
    headline = [numbers.number(r.value) for r in rows]
    dims.append(dict(label="headline", values=headline))
    fig = go.Figure(go.Parcoords(dimensions=dims, line=dict(color=list(range(len(runs))), colorscale=[
        [i / max(len(runs) - 1, 1), plots.colour_of(f"{r.experiment}/{r.id}")] for i, r in enumerate(runs)])))
    fig.update_layout(height=420, margin=dict(l=60, r=60, t=60, b=30))
    return fig


@sidebar.live(run_every=3)
def _epoch_words(run: Run, phase: dict, epochs: int) -> str:
    """"epoch 2 of 6, 640 of 2,074 images" while an epoch trains; "epoch 1 of 6 · caching features" in another phase."""
    if str(phase.get("name", "")).startswith("training, epoch"):
        return f"{phase['name'].removeprefix('training, ')}, {int(phase.get('done') or 0):,} of " \
               f"{int(phase.get('total') or 0):,} images"
    return f"epoch {len(run.history)}" + (f" of {epochs}" if epochs else "") + (f" · {phase['name']}" if phase else "")


def live(store: RunStore) -> None:
    """The runs in progress as one batch (a preparation, a page's job): how many are done of how many, the time
    left, Pause, Continue and Stop all, and each run's state; polled every 3 s while there are any. When the last
    one ends, the whole page reruns (the Home tiles then show it)."""
    @sidebar.live(run_every=3)
    def view() -> None:
        active = [r for r in store.list() if r.status in LIVE]
        was = st.session_state.get("runs.live.count", 0)
        st.session_state["runs.live.count"] = len(active)
        if not active:
            if was:
                st.rerun(scope="app")
            return
        orphans = any(r.status == "queued" and r.pid is None and r.message == ORPHANED for r in active)
        if orphans and resume.resume_queue(str(store.folder.resolve())):
            active = [r for r in store.list() if r.status in LIVE]
        st.subheader("In progress")
        batch = control.progress(store)
        is_paused = control.paused(store)
        if batch is not None:
            left = ("time left unknown until each study has run here once" if batch.seconds_left is None else
                    f"{estimates.words(batch.seconds_left)} left" + (" (paused)" if is_paused else ""))
            st.progress(min(batch.fraction, 1.0), text=f"**{batch.done} of {batch.total} runs done** · {left}")
        with st.container(horizontal=True):
            if is_paused:
                st.button("Continue", icon=":material/play_arrow:", key="runs.live.continue",
                          on_click=control.resume, args=(store,))
            else:
                st.button("Pause", icon=":material/pause:", key="runs.live.pause", on_click=control.pause,
                          args=(store,), help="Pauses the training processes; Continue carries on where they were.")
            st.button("Stop all", icon=":material/stop:", key="runs.live.stop", on_click=control.stop, args=(store,),
                      help="A running run stops at its next step and keeps its last checkpoint; queued runs are "
                           "removed. `python -m core.runs prepare` queues what is missing again.")
        for r in active:
            phase, queue = r.metrics.get("phase") or {}, r.metrics.get("queue") or {}
            epochs = int(r.config.get("epochs", 0) or 0)
            where = ("waiting for a process: the app starts one within seconds" if r.status == "queued" and r.pid is None
                     and r.message in (ORPHANED, ADOPTED) else
                     f"waiting, {jobs.ordinal(int(queue['place']))} in line" if r.status == "queued" and queue else
                     _epoch_words(r, phase, epochs) if r.status == "running" else "queued")
            st.markdown(f"**{r.title}** · {index.title(r.experiment)} · {where}")
        n = max_running()
        st.caption(f"{n} run{'s' * (n > 1)} train{'s' * (n == 1)} at a time on this machine (set "
                   f"{MAX_RUNNING_ENV} to change it); the others wait in the order they were started.")
    view()

