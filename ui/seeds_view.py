"""Across seeds, on every study page: would the difference hold if the variants were trained again?

One section for all studies (core.experiments.seeds does the work): the settings with their seeds, each variant's
mean with a CI over seeds and test images, each seed as a dot, each Δ with its hierarchical CI and P(A better), and
"Repeat ×N", which queues the seeds a setting lacks through the run queue and follows them like any training job.
"""

from __future__ import annotations

from dataclasses import fields, replace

import streamlit as st

from core import devices, plots
from core.engine import replicates
from core.engine.store import RunStore
from core.engine.study import Study
from core.experiments import seeds as across
from core.metrics.hierarchical import MAX_SEEDS
from core.metrics.paired import N_BOOT_LIVE
from core.studies import index
from ui import figures, jobs
from ui.settings import KEEP
from ui.sidebar import device, presenting


@st.cache_data(max_entries=8, show_spinner="Comparing across seeds (hierarchical bootstrap over seeds and images)…")
def _compare(study_name: str, keys: tuple[str, ...], run_ids: tuple[str, ...], dataset: str, runs_dir: str,
             device_name: str) -> dict:
    """The across-seed Comparison of these settings (keys), as JSON; run_ids (done and failed) key the cache, so a
    new replicate is scored anew."""
    study = index.get(study_name)
    dev = devices.pick_device(force_cpu=device_name == "cpu")
    groups = {replicates.key(g.setting): g for g in replicates.groups(study, RunStore(runs_dir).list())}
    chosen = [groups[k] for k in keys if k in groups]
    return across.compare(study, chosen, dataset, dev, study.untrained(dataset, dev), N_BOOT_LIVE).as_json()


def on_dataset(study: Study, dataset: str) -> list:
    """The study's default settings for `--seeds`, on the page's dataset where a setting names one."""
    return [replace(c, dataset=dataset) if "dataset" in {f.name for f in fields(c)} else c
            for c in across.settings_for(study)]


def _setting_names(study: Study, groups: list[replicates.Group]) -> dict[str, str]:
    return {replicates.key(g.setting): f"{n} ({g.count_words()})" for n, g in zip(across.names(groups), groups,
                                                                                    strict=True)}


def section(study: Study, dataset: str, prefix: str) -> None:
    """The study's across-seed comparison on this dataset, and Repeat ×N."""
    st.subheader("Across seeds: would it hold if trained again?")
    store = RunStore()
    runs = [r for r in store.list() if r.experiment == study.name and r.config.get("dataset", dataset) == dataset]
    groups = [g for g in replicates.groups(study, runs) if g.done or g.live]
    labels = _setting_names(study, groups)
    defaults = [replicates.key(replicates.setting_of(c)) for c in on_dataset(study, dataset)]
    keys = [replicates.key(g.setting) for g in groups]
    picked_key = f"{prefix}.seeds.settings"
    if picked_key not in st.session_state:
        st.session_state[picked_key] = ([k for k in defaults if k in keys] or
                                        [k for k in keys if len(groups[keys.index(k)].done) > 1] or keys[-3:])[:4]
    st.session_state[picked_key] = [k for k in st.session_state[picked_key] if k in keys]
    with figures.controls("Settings compared across seeds, and Repeat ×N"):
        chosen = st.multiselect("Settings (each with its seeds)", keys, key=picked_key, **KEEP,
                                format_func=lambda k: labels.get(k, k))
        _repeat(study, dataset, prefix, groups, keys, labels)
    figures.explain(f"What the seed changes here: {study.seeds_drive}.", label="What a seed changes")
    done = [g for g in groups if replicates.key(g.setting) in chosen and g.done]
    if not done:
        st.info("No finished run of these settings yet: Repeat ×N trains them with several seeds.")
        return
    if all(len(g.done) <= 1 for g in done):  # the page's own comparison above already has the one-seed CIs
        st.info(f"Each setting has {across.ONE_SEED} (Repeat ×N above).", icon=":material/casino:")
        return
    dev = device()
    result = _compare(study.name, tuple(chosen), tuple(r.id for g in done for r in (*g.done, *g.failed)), dataset,
                      str(store.folder), dev.type)
    if not result["variants"]:
        st.warning("None of these runs could be scored: " + "; ".join(w for v in result["failed"].values() for w in v))
        return
    metrics = [m for m in study.metrics if any(m in v["mean"] for v in result["variants"].values())]
    table = across.variant_table(result, metrics)
    figures.table(table.drop(columns=["each seed"]) if presenting() else table)  # the dots below show each seed
    if result["comparisons"]:
        figures.table(across.delta_table(result))
        figures.verdicts(across.verdicts(result, study))
    figures.show(plots.seeds_figure(result["variants"], metrics[0]), f"{prefix}.seeds.figure", f"{study.name}-seeds")
    metric, lines = across.curves(study, done)
    if lines and any(len(by_seed) > 1 for by_seed in lines.values()):
        figures.show(plots.replicate_curves_figure(lines, metric), f"{prefix}.seeds.curves", f"{study.name}-seed-curves")
        figures.explain("Line: the median over seeds at each epoch; band: their range; faint lines: each seed (hover "
                        "names it).", label="About these curves")
    for name, why in result["failed"].items():
        st.warning(f"{name}: not counted: {'; '.join(why)}", icon=":material/warning:")
    figures.explain("Brackets: 95% CI by the hierarchical bootstrap (resample the seeds, then the test images within "
                    "each), so it counts training randomness as well as the test sample. P(A better): the share of "
                    "A's runs that beat B's (paired by seed where both have it), with its CI from the same "
                    "resamples. Untrained variants (pretrained) have no seed and pair with every seed.",
                    label="About these intervals")


def _repeat(study: Study, dataset: str, prefix: str, groups: list[replicates.Group], keys: list[str],
            labels: dict[str, str]) -> None:
    """Repeat ×N: a setting (a default or one already trained) and N; queues the seeds it lacks."""
    job = f"{prefix}.seeds"
    options = {replicates.key(replicates.setting_of(c)): c for c in on_dataset(study, dataset)}
    by_key = dict(zip(keys, groups, strict=True))
    every = list(dict.fromkeys([*options, *keys]))
    if not every:
        return
    which = f"{job}.which"  # set here, not by `default=`: a setting gone from the store (deleted) leaves the choice
    st.session_state[which] = [k for k in st.session_state.get(which, list(options)[:3] or every[:1]) if k in every]
    left, right = st.columns([3, 1])
    picked = left.multiselect("Repeat these settings", every, key=which, format_func=lambda k: labels.get(k) or
                              f"{across.label_of(options[k])} (not trained yet)")
    n = right.number_input("Seeds each (×N)", 1, MAX_SEEDS, 3, key=f"{job}.n",
                           help=f"seeds 0 … N−1 of each setting; those done, queued or running are not trained again "
                                f"(1 to {MAX_SEEDS})")
    cfgs = [options[k] if k in options else study.config_of(by_key[k].done[0] if by_key[k].done else
                                                              by_key[k].live[0]) for k in picked]
    store = RunStore()
    todo = [c for cfg in cfgs for c in replicates.missing(study, cfg, int(n), store.list())]
    busy = jobs.current(job) is not None
    if st.button(f"Repeat ×{int(n)}: train {len(todo)} missing run(s)", key=f"{job}.go", disabled=busy or not todo,
                 icon=":material/casino:"):
        jobs.queue_and_start(job, lambda: [i for c in todo for i in study.queue(c, RunStore())])
        st.rerun()
    if jobs.current(job) is not None or any(st.session_state.get(f"{job}.{k}") for k in ("failed", "stopped")):
        jobs.panel(job, _progress, stopped="The other seeds still count.")  # polled only while replicates train


def _progress(job: jobs.Job) -> None:
    runs = job.runs()
    done = sum(r.status == "done" for r in runs)
    run, nth = jobs.running_run(job)
    epochs = int(run.config.get("epochs", 1) or 1)
    st.progress(min((done + len(run.history) / max(epochs, 1)) / max(len(runs), 1), 1.0),
                text=f"Replicates: {done} of {len(runs)} done · now seed {run.config.get('seed')} of "
                     f"{run.config.get('strategy')} ({nth}), epoch {len(run.history)} of {epochs}")
