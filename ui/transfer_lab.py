"""The backbone-transfer pages' shared parts: the training sidebar, runs in their own process with a
live view, and the comparison of finished runs. Pages pass their task and a widget-key prefix."""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass

import numpy as np
import pandas as pd
import streamlit as st

from core import plots, weights
from core.data import catalogue
from core.data.types import DataError, LabelledImages
from core.experiments import transfer as tx
from core.experiments.comparison import Comparison
from core.models import backbones
from core.train import strategies as strat
from core.train.loop import AUGMENTATIONS, TrainConfig, check_dataset
from core.train.runstore import Run, RunStore
from core.train.strategies import StrategyConfig
from ui import jobs
from ui.export import export_buttons
from ui.sidebar import FORCE_CPU

N_BOOT = 1000  # bootstrap resamples for the page's CIs: tighter than needed for display, fast enough to feel live
IMAGE_SIZES = (32, 64, 96, 112, 128, 160, 224)
BATCH_SIZES = (16, 32, 64, 128)


@dataclass(frozen=True)
class Choice:
    """What the sidebar chose: the dataset and one training config per strategy to run."""

    dataset: str
    data: LabelledImages | None
    problem: str  # why this dataset cannot train, or ""
    config: TrainConfig


@st.cache_resource(max_entries=8, show_spinner=False)
def _counting_model(backbone: str, head: str, outputs: int) -> backbones.TransferModel:
    """Randomly initialised and only ever counted (count_trainable reads it; nothing changes it)."""
    model, _ = backbones.build(backbone, outputs, head, pretrained=False)
    return model


def _load(name: str) -> tuple[LabelledImages | None, str]:
    try:
        data = catalogue.labelled(name)
        check_dataset(data)
    except (DataError, ValueError, KeyError, OSError) as exc:
        return None, str(exc.args[0] if exc.args else exc)
    return data, ""


def training_sidebar(task: str, prefix: str) -> Choice:
    """Dataset, backbone, head, strategy and hyper-parameters; shows the strategy's trainable parameters."""
    names = catalogue.labelled_names(task)
    default = names.index(tx.DEFAULT_DATASET[task]) if tx.DEFAULT_DATASET[task] in names else 0
    quick = tx.QUICK[task]
    with st.sidebar:
        st.subheader("Training")
        dataset = st.selectbox("Dataset", names, index=default, key=f"{prefix}.dataset",
                               help="Bring your own on the Datasets page: an ImageFolder, UTKFace, or a YOLO set "
                                    "(its boxes are cut out as crops).")
        data, problem = _load(dataset)
        backbone = st.selectbox("Backbone", sorted(backbones.BACKBONES), key=f"{prefix}.backbone",
                                index=sorted(backbones.BACKBONES).index(quick.backbone))
        pretrained_ok = backbones.available(backbone)
        if not pretrained_ok:
            st.warning(weights.unavailable_message(backbones.BACKBONES[backbone].source) +
                       " Until then this backbone trains from scratch only.", icon=":material/cloud_off:")
        options = list(strat.STRATEGIES) if pretrained_ok else ["scratch"]
        name = st.selectbox("Freeze strategy", options, index=options.index("finetune") if pretrained_ok else 0,
                            key=f"{prefix}.strategy.{pretrained_ok}", help="\n\n".join(
                                f"**{k}**: {v}" for k, v in strat.STRATEGIES.items()))
        st.caption(strat.STRATEGIES[name])
        head = st.radio("Head", backbones.HEADS, horizontal=True, key=f"{prefix}.head",
                        index=backbones.HEADS.index(quick.head),
                        help="linear, or the age study's grafted MLP (512→256→32→out, 2048→512→128→out, GELU)")
        epochs = st.slider("Epochs", 1, 30, quick.epochs, key=f"{prefix}.epochs")
        params = {}
        if name in ("two_phase", "gradual"):
            params["head_epochs"] = st.slider("Head-only epochs", 0, max(epochs - 1, 1), min(1, epochs - 1),
                                              key=f"{prefix}.head_epochs")
        if name == "gradual":
            params["unfreeze_every"] = st.slider("Open one more block every … epochs", 1, 5, 1,
                                                 key=f"{prefix}.unfreeze_every")
        if name == "discriminative":
            params["decay"] = st.slider("Learning-rate factor per block (from the top)", 0.1, 1.0, 0.5, 0.05,
                                        key=f"{prefix}.decay")
        if name == "freeze_first_k":
            n_blocks = len(_counting_model(backbone, head, 2).blocks)
            params["k"] = st.slider("Blocks kept fixed (k)", 0, n_blocks, min(2, n_blocks), key=f"{prefix}.k")
        lr = st.select_slider("Learning rate", [1e-4, 3e-4, 1e-3, 3e-3, 1e-2], value=1e-3, key=f"{prefix}.lr")
        size = st.select_slider("Image size (px)", IMAGE_SIZES, value=quick.image_size, key=f"{prefix}.size")
        batch = st.select_slider("Batch size", BATCH_SIZES, value=quick.batch_size, key=f"{prefix}.batch")
        optimizer = st.radio("Optimiser", ["adam", "sgd"], horizontal=True, key=f"{prefix}.optimizer")
        augment = st.multiselect("Augmentation", AUGMENTATIONS, key=f"{prefix}.augment",
                                 help="flip, colour jitter, rotation (±10°), resized crop; a frozen backbone with "
                                      "augmentation recomputes its features every step")
        config = TrainConfig(backbone=backbone, head=head, strategy=StrategyConfig(name, lr=lr, **params),
                             optimizer=optimizer, batch_size=batch, image_size=size, epochs=epochs,
                             augment=tuple(augment))
        _trainable(config, len(data.classes) if data is not None and data.classes else 1)
    return Choice(dataset, data, problem, config)


def _trainable(cfg: TrainConfig, outputs: int) -> None:
    model = _counting_model(cfg.backbone, cfg.head, outputs)
    total = sum(p.numel() for p in model.parameters())
    first = strat.count_trainable(model, cfg.strategy, 0)
    last = strat.count_trainable(model, cfg.strategy, cfg.epochs - 1)
    text = f"**Trainable parameters** · {first:,} of {total:,} ({first / total:.1%})"
    if last != first:
        text += f", rising to {last:,} ({last / total:.1%}) by the last epoch"
    st.markdown(text)


def _command(dataset: str, cfg: TrainConfig, names: list[str]) -> list[str]:
    s = cfg.strategy
    cmd = [sys.executable, "-m", "core.train.transfer", "--dataset", dataset, "--backbone", cfg.backbone,
           "--head", cfg.head, "--strategies", *names, "--optimizer", cfg.optimizer, "--lr", str(s.lr),
           "--epochs", str(cfg.epochs), "--batch-size", str(cfg.batch_size), "--image-size", str(cfg.image_size),
           "--head-epochs", str(s.head_epochs), "--unfreeze-every", str(s.unfreeze_every), "--decay", str(s.decay),
           "--k", str(s.k), "--seed", str(cfg.seed)]
    if cfg.augment:
        cmd += ["--augment", *cfg.augment]
    return cmd


def start(prefix: str, dataset: str, cfg: TrainConfig, names: list[str], force_cpu: bool) -> None:
    """Launch the trainer in its own process; the live view polls the run store."""
    pid = jobs.launch(_command(dataset, cfg, names) + (["--cpu"] if force_cpu else []))
    st.session_state[f"{prefix}.job"] = {"pid": pid, "strategies": names, "started": time.time(),
                                         "dataset": dataset, "epochs": cfg.epochs}


def live(prefix: str, task: str) -> None:
    """Progress of a run started here, polled every 2 s: epoch, the validation metric so far, Stop."""
    @st.fragment(run_every=2)
    def view() -> None:
        job = st.session_state.get(f"{prefix}.job")
        if not job:
            return
        mine = [r for r in RunStore().list() if r.created >= job["started"] - 5 and r.config.get("dataset") ==
                job["dataset"]]
        running = [r for r in mine if r.status == "running"]
        if running:
            _progress(running[-1], job, task, len(mine), prefix)
        elif not jobs.alive(job["pid"]):
            failed = [r for r in mine if r.status == "failed"]
            st.session_state[f"{prefix}.new"] = [r.id for r in mine if r.status == "done"]
            st.session_state[f"{prefix}.failed"] = failed[-1].message if failed else jobs.last_error()
            del st.session_state[f"{prefix}.job"]
            st.rerun(scope="app")
        else:
            st.info(f"Starting: {', '.join(job['strategies'])} (reading the data)…", icon=":material/hourglass_top:")
    view()


def _progress(run: Run, job: dict, task: str, nth: int, prefix: str) -> None:
    history = run.metrics.get("history", [])
    headline = tx.HEADLINE[task]
    strategy = run.config.get("strategy", "?")
    st.progress(len(history) / max(job["epochs"], 1),
                text=f"Training **{strategy}** ({nth} of {len(job['strategies'])}): epoch {len(history)} of "
                     f"{job['epochs']} done" + (f", validation {headline} {history[-1]['val'][headline]:.3f}"
                                                if history else ""))
    if history:
        frame = tx.history_frame({strategy: history})
        left, right = st.columns(2)
        left.plotly_chart(plots.learning_curves_figure(frame, "loss"), key=f"{prefix}.live.loss")
        right.plotly_chart(plots.learning_curves_figure(frame, headline), key=f"{prefix}.live.metric")
    if st.button("Stop", key=f"{prefix}.stop", icon=":material/stop:"):
        jobs.stop(job["pid"])


def training_controls(prefix: str, choice: Choice, force_cpu: bool) -> None:
    """The buttons that start runs, or why they cannot."""
    if choice.problem:
        st.error(f"This dataset cannot train: {choice.problem}", icon=":material/error:")
        return
    busy = f"{prefix}.job" in st.session_state
    left, right = st.columns(2)
    if left.button(f"Train **{choice.config.strategy.name}**", key=f"{prefix}.train", disabled=busy,
                   type="primary", icon=":material/play_arrow:"):
        start(prefix, choice.dataset, choice.config, [choice.config.strategy.name], force_cpu)
        st.rerun()
    pretrained = backbones.available(choice.config.backbone)
    trio = list(tx.DEFAULT_STRATEGIES) if pretrained else ["scratch"]
    if right.button(f"Train {' · '.join(trio)} with these settings", key=f"{prefix}.train3", disabled=busy,
                    icon=":material/playlist_play:"):
        start(prefix, choice.dataset, choice.config, trio, force_cpu)
        st.rerun()
    message = st.session_state.pop(f"{prefix}.failed", "")
    if message:
        st.error(f"The last run did not finish: {message}", icon=":material/error:")


def compared_runs(prefix: str, task: str, choice: Choice, minutes: str) -> tuple[list[Run], Comparison, dict[str, str]]:
    """Training buttons, the live view, the runs picked for comparison and their Comparison; the page stops
    here with a hint when there is nothing to compare yet."""
    training_controls(prefix, choice, force_cpu=bool(st.session_state.get(FORCE_CPU)))
    live(prefix, task)
    runs = pick_runs(prefix, task, choice.dataset)
    if not runs:
        st.info(f"No finished runs on this dataset yet: train one with the buttons above (the default three take "
                f"about {minutes} on 2 CPU cores), or run `python -m core.experiments {task}`.")
        st.stop()
    try:
        result, names = comparison(tuple(r.id for r in runs), task, choice.dataset, str(RunStore().folder))
    except ValueError as exc:
        st.error(str(exc), icon=":material/error:")
        st.stop()
    return runs, result, names


def metrics_section(prefix: str, runs: list[Run], result: Comparison, names: dict[str, str], metrics: list[str],
                    caption: str, versus: str) -> None:
    """The metric table with CIs (exportable), the runs' settings, and the paired tests against scratch."""
    st.subheader(f"Test split · {result.extra['test_samples']:,} images")
    table = metric_table(result, names, metrics)
    st.dataframe(table, hide_index=True)
    st.caption(caption + " Brackets: 95% bootstrap CI over test images.")
    export_buttons(plots.table_figure(table), f"{result.experiment}-metrics", f"{prefix}.table.export")
    with st.expander("Settings of these runs"):
        st.dataframe(settings_table(runs, names, result), hide_index=True)
    if result.comparisons:
        st.markdown(f"**Against scratch** ({versus})")
        st.dataframe(comparisons_table(result, names), hide_index=True)


def label(run: Run) -> str:
    c = run.config
    return (f"{c.get('strategy')} · {c.get('backbone')} · {c.get('head')} head · {c.get('image_size')} px · "
            f"{c.get('epochs')} ep · run …{run.id[-6:]}")


def pick_runs(prefix: str, task: str, dataset: str) -> list[Run]:
    """Finished runs on this dataset to compare: by default the newest of each strategy, and any just finished."""
    runs = tx.runs_on(dataset, task)
    if not runs:
        return []
    newest = {}
    for r in runs:
        newest[(r.config.get("strategy"), r.config.get("backbone"))] = r.id
    new = st.session_state.pop(f"{prefix}.new", [])
    key = f"{prefix}.runs.{dataset}"
    ids = [r.id for r in runs]
    if new or key not in st.session_state:
        default = {*newest.values(), *new}
        st.session_state[key] = [i for i in ids if i in default]
    st.session_state[key] = [i for i in st.session_state[key] if i in ids]
    by_id = {r.id: r for r in runs}
    chosen = st.multiselect("Variants to compare", ids, key=key, format_func=lambda i: label(by_id[i]))
    return [by_id[i] for i in chosen]


@st.cache_data(max_entries=16, show_spinner="Scoring the variants (bootstrap CIs)…")
def comparison(run_ids: tuple[str, ...], task: str, dataset: str, runs_dir: str) -> tuple[Comparison, dict[str, str]]:
    store = RunStore(runs_dir)
    runs = [store.get(i) for i in run_ids]
    outcomes = [tx.outcome(r) for r in runs]
    data = catalogue.labelled(dataset)
    return tx.compare(outcomes, task, dataset, data.classes, n_boot=N_BOOT), short_names(runs, outcomes)


def short_names(runs: list[Run], outcomes: list[tx.Outcome]) -> dict[str, str]:
    """Variant -> "strategy · what differs (id)": short enough for legends and subplot titles."""
    differ = [k for k in ("backbone", "head", "image_size", "epochs", "lr", "augment")
              if len({str(r.config.get(k)) for r in runs}) > 1]
    def name(r: Run) -> str:
        parts = [str(r.config.get("strategy"))] + [_setting(k, r.config.get(k)) for k in differ]
        return " · ".join(parts) + f" ({r.id[-4:]})"
    return {o.variant: name(r) for o, r in zip(outcomes, runs, strict=True)}


def _setting(key: str, value: object) -> str:
    if key == "image_size":
        return f"{value} px"
    if key == "epochs":
        return f"{value} ep"
    if key == "lr":
        return f"lr {value:g}" if isinstance(value, float) else f"lr {value}"
    if key == "augment":
        return "+".join(value) if value else "no aug"
    return str(value)


def settings_table(runs: list[Run], names: dict[str, str], result: Comparison) -> pd.DataFrame:
    """Every setting of the compared runs, one row per variant."""
    by_id = {r.id: r for r in runs}
    rows = []
    for variant in result.variants:
        r = by_id[result.extra["runs"][variant]["run_id"]]
        c = r.config
        rows.append({"variant": names[variant], "backbone": c.get("backbone"), "head": c.get("head"),
                     "strategy": c.get("strategy"), "epochs": c.get("epochs"), "lr": c.get("lr"),
                     "optimiser": c.get("optimizer"), "image px": c.get("image_size"), "batch": c.get("batch_size"),
                     "augment": ", ".join(c.get("augment", [])) or "none", "run": r.id})
    return pd.DataFrame(rows)


def metric_table(result: Comparison, names: dict[str, str], metrics: list[str]) -> pd.DataFrame:
    """Variants as rows, each metric as "value [low, high]" (95% bootstrap CI), plus training time."""
    ci = result.extra["ci95"]
    rows = []
    for variant, values in result.variants.items():
        row = {"variant": names[variant]}
        for m in metrics:
            lo, hi = ci[variant].get(m, (np.nan, np.nan))
            row[m] = f"{values[m]:.3f} [{lo:.3f}, {hi:.3f}]"
        row["train time (s)"] = round(values["train_seconds"], 1)
        row["trainable params"] = f"{int(values['trainable_params']):,}"
        rows.append(row)
    return pd.DataFrame(rows)


def comparisons_table(result: Comparison, names: dict[str, str]) -> pd.DataFrame:
    frame = plots.comparison_table(result.comparisons)
    if not len(frame):
        return frame
    p_text = frame["p"].map(lambda p: "< 0.001" if p < 1e-3 else f"{p:.2g}")
    return frame.assign(a=frame["a"].map(names), b=frame["b"].map(names), p=p_text)


def learning_curves(result: Comparison, names: dict[str, str], metric: str, prefix: str) -> None:
    history = {names[v]: h for v, h in result.extra["history"].items()}
    frame = tx.history_frame(history)
    unfreeze = tx.unfreeze_epochs(history)
    left, right = st.columns(2)
    for col, m in ((left, "loss"), (right, metric)):
        fig = plots.learning_curves_figure(frame, m, unfreeze)
        col.plotly_chart(fig, key=f"{prefix}.curves.{m}")
    export_buttons(plots.learning_curves_figure(frame, metric, unfreeze), f"learning-curves-{metric}",
                   f"{prefix}.curves.export")
    st.caption("Dashed: training (loss; accuracy on the training batches as they went by). Solid: validation. "
               "Dotted vertical lines: where a strategy opened more of the backbone.")

