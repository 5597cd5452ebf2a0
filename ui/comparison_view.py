"""The comparison of finished runs on a backbone-transfer page: which runs, their metric table with CIs,
the paired tests, and the learning curves. Tables come from core.experiments.tables."""

from __future__ import annotations

import streamlit as st
import torch

from core import plots, registry
from core.data import catalogue
from core.engine.store import Run, RunStore
from core.experiments import tables
from core.experiments.comparison import Comparison
from core.metrics import paired
from core.models import imported
from core.studies import index
from core.studies.transfer import experiment as tx
from core.weights import WeightsUnavailable
from ui import figures, hero, training
from ui.settings import KEEP
from ui.sidebar import device


def pick_runs(prefix: str, task: str, dataset: str) -> list[Run]:
    """Finished runs on this dataset to compare. The first time: the newest of each strategy and backbone then
    in the store; afterwards the user's picks, plus runs this session trains. Runs finished elsewhere are
    offered, never added by themselves."""
    runs = tx.runs_on(dataset, task)
    key = f"{prefix}.runs.{dataset}"
    ids = [r.id for r in runs]
    by_id = {r.id: r for r in runs}
    if key not in st.session_state:  # the newest of each strategy and backbone, and the pinned baseline
        newest = {(r.config.get("strategy"), r.config.get("backbone")): r.id for r in runs}
        st.session_state[key] = [i for i in ids if i in set(newest.values()) or by_id[i].pinned]
    if not runs:
        return []
    own = [i for i in st.session_state.pop(f"{prefix}.new", []) if i in ids]
    st.session_state[key] = [i for i in ids if i in st.session_state[key] or i in own]
    chosen = st.multiselect("Variants to compare", ids, key=key, **KEEP, format_func=lambda i: tables.run_label(by_id[i]))
    return [by_id[i] for i in chosen]


@st.cache_data(max_entries=16, show_spinner="Scoring the variants (bootstrap CIs)…")
def comparison(run_ids: tuple[str, ...], task: str, dataset: str, runs_dir: str, baseline: str = "",
               yours: tuple[tuple[str, str], ...] = (), device_name: str = "cpu"
               ) -> tuple[Comparison, dict[str, Run], dict[str, str], dict[str, str]]:
    """The runs' Comparison against the baseline run, each variant's run, the short names for legends, and why
    any of your models (name, sha256) could not join. Yours are scored on the runs' test images."""
    store = RunStore(runs_dir)
    runs = [store.get(i) for i in run_ids]
    outcomes = [tx.outcome(r) for r in runs]
    names: dict[str, str] = {}
    refused: dict[str, str] = {}
    for name, _ in yours:  # the sha256 in the key: a model removed and imported again under its name is scored anew
        try:
            variant = registry.imported_variant(imported.get(name))
            outcomes.append(tx.imported_outcome(variant, dataset, outcomes[0], torch.device(device_name)))
            names[variant.name] = f"yours: {name}"
        except (KeyError, ValueError, WeightsUnavailable) as exc:
            refused[name] = str(exc.args[0] if exc.args else exc)
    result = tx.compare(outcomes, task, dataset, catalogue.labelled(dataset).classes, n_boot=paired.N_BOOT_LIVE,
                        baseline=baseline)
    by_variant = {o.variant: r for o, r in zip(outcomes, runs, strict=False)}
    return result, by_variant, tables.short_names(by_variant) | names, refused


def pick_yours(prefix: str, task: str) -> tuple[tuple[str, str], ...]:
    """Your imported models of this task to compare beside the runs (the Models page imports them)."""
    mine = [m for m in imported.listing() if m.task == task]
    if not mine:
        st.caption("Your own model can join this comparison: import it on the Models page.")
        return ()
    by_name = {m.name: m for m in mine}
    chosen = st.multiselect("Your models (scored on the same test images)", list(by_name), key=f"{prefix}.yours",
                            **KEEP, format_func=lambda n: f"yours: {n} ({by_name[n].format})")
    return tuple((n, by_name[n].sha256) for n in chosen)


def compared_runs(prefix: str, task: str, choice: training.Choice) -> tuple[Comparison, dict[str, Run], dict[str, str]]:
    """Training buttons, the live view, the runs picked for comparison and their Comparison; the page stops
    here with a hint when there is nothing to compare yet."""
    with figures.controls("Training, the runs compared and the baseline"):
        training.controls(prefix, choice)
        runs = pick_runs(prefix, task, choice.dataset)
        if runs:
            by_id = {r.id: r for r in runs}
            default = next((r.id for r in runs if r.pinned), None) or \
                next((r.id for r in runs if r.config.get("strategy") == "scratch"), runs[0].id)
            key = f"{prefix}.baseline"
            if st.session_state.get(key) not in by_id:
                st.session_state.pop(key, None)  # the baseline left the comparison: back to scratch (or the first)
            baseline = st.selectbox("Baseline: the others are tested against it (the pinned run when picked; pin one "
                                    "on the Runs page)", list(by_id),
                                    index=list(by_id).index(default), key=key, **KEEP,
                                    format_func=lambda i: tables.run_label(by_id[i]), disabled=len(runs) < 2)
        yours = pick_yours(prefix, task)
    training.live(prefix, task)
    hero.hero(task)
    if not runs and tx.runs_on(choice.dataset, task):
        st.info("Pick the runs to compare above: runs finished elsewhere join only when picked.")
        st.stop()
    if not runs:
        st.info(f"No finished runs on this dataset yet: train one with the buttons above (their labels give this "
                f"machine's past times once it has any), or run `python -m core.experiments {task}`.")
        st.stop()
    try:
        result, by_variant, names, refused = comparison(tuple(r.id for r in runs), task, choice.dataset,
                                                        str(RunStore().folder), baseline, yours, device().type)
    except ValueError as exc:
        st.error(str(exc), icon=":material/error:")
        st.stop()
    for name, why in refused.items():
        st.warning(f"Your model {name} is not compared: {why}", icon=":material/warning:")
    return result, by_variant, names


def metrics_section(prefix: str, result: Comparison, runs: dict[str, Run], names: dict[str, str],
                    metrics: list[str], caption: str, versus: str) -> None:
    """The metric table with CIs (exportable), the runs' settings, and the paired tests against the baseline."""
    st.subheader(f"Test split · {result.extra['test_samples']:,} images")
    table = tables.metric_table(result, metrics, names)
    figures.table(table)
    figures.explain(caption + " Brackets: 95% bootstrap CI over test images.")
    figures.export_buttons(plots.table_figure(table), f"{result.experiment}-metrics", f"{prefix}.table.export")
    with st.expander("Settings of these runs"):
        st.dataframe(tables.settings_table(runs, names), hide_index=True)
    if result.comparisons:
        st.markdown(f"**Against the baseline, {names[result.extra['baseline']]}** ({versus})")
        figures.table(tables.comparisons_table(result.comparisons, names))
        figures.verdicts(tables.verdicts(result.comparisons, names, index.get(result.experiment).lower_is_better))


def learning_curves(result: Comparison, names: dict[str, str], metric: str, prefix: str) -> None:
    history = {names[v]: h for v, h in result.extra["history"].items()}
    frame = tx.history_frame(history)
    if frame.empty:
        st.info("These runs recorded no epochs, so there are no learning curves to draw.")
        return
    unfreeze = tx.unfreeze_epochs(history)
    left, right = st.columns(2)
    for col, m in ((left, "loss"), (right, metric)):
        fig = plots.learning_curves_figure(frame, m, unfreeze)
        figures.show(fig, f"{prefix}.curves.{m}", f"learning-curves-{m}", where=col)
    figures.explain("Dashed: training (loss; accuracy on the training batches as they went by). Solid: validation. "
                    "Dotted vertical lines: where a strategy opened more of the backbone.")
