"""Training from a backbone-transfer page: the sidebar's settings, the buttons that queue runs and start
their process, and the live view of this session's job (phase, epoch, curves, Stop)."""

from __future__ import annotations

import time
from dataclasses import dataclass

import streamlit as st

from core import numbers, plots, tasks, weights
from core.data import catalogue
from core.data.types import DataError, LabelledImages
from core.engine import estimates
from core.engine import strategies as strat
from core.engine.loop import AUGMENTATIONS, TrainConfig, check_dataset
from core.engine.store import Run, RunStore
from core.engine.strategies import StrategyConfig
from core.models import backbones
from core.studies.transfer import experiment as tx
from core.studies.transfer import train as transfer
from ui import figures, jobs
from ui.settings import KEEP
from ui.sidebar import FORCE_CPU

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
    default = names.index(tasks.get(task).default_dataset) if tasks.get(task).default_dataset in names else 0
    quick = tx.quick_config(task)
    with st.sidebar:
        st.subheader("Training")
        dataset = st.selectbox("Dataset", names, index=default, key=f"{prefix}.dataset", **KEEP,
                               help="Bring your own on the Datasets page: an ImageFolder, UTKFace, or a YOLO set "
                                    "(its boxes are cut out as crops).")
        data, problem = _load(dataset)
        backbone = st.selectbox("Backbone", sorted(backbones.BACKBONES), key=f"{prefix}.backbone", **KEEP,
                                index=sorted(backbones.BACKBONES).index(quick.backbone))
        pretrained_ok = backbones.available(backbone)
        if not pretrained_ok:
            st.warning(weights.unavailable_message(backbones.BACKBONES[backbone].source) +
                       " Until then this backbone trains from scratch only.", icon=":material/cloud_off:")
        options = list(strat.STRATEGIES) if pretrained_ok else ["scratch"]
        name = st.selectbox("Freeze strategy", options, index=options.index("finetune") if pretrained_ok else 0,
                            key=f"{prefix}.strategy.{pretrained_ok}", **KEEP, help="\n\n".join(
                                f"**{k}**: {v}" for k, v in strat.STRATEGIES.items()))
        st.caption(strat.STRATEGIES[name])
        head = st.radio("Head", backbones.HEADS, horizontal=True, key=f"{prefix}.head", **KEEP,
                        index=backbones.HEADS.index(quick.head),
                        help="linear, or the age study's grafted MLP (512→256→32→out, 2048→512→128→out, GELU)")
        epochs = st.slider("Epochs", 1, 30, quick.epochs, key=f"{prefix}.epochs", **KEEP)
        params = {}
        if name in ("two_phase", "gradual"):
            params["head_epochs"] = st.slider("Head-only epochs", 0, max(epochs - 1, 1), min(1, epochs - 1),
                                              key=f"{prefix}.head_epochs", **KEEP)
        if name == "gradual":
            params["unfreeze_every"] = st.slider("Open one more block every … epochs", 1, 5, 1,
                                                 key=f"{prefix}.unfreeze_every", **KEEP)
        if name == "discriminative":
            params["decay"] = st.slider("Learning-rate factor per block (from the top)", 0.1, 1.0, 0.5, 0.05,
                                        key=f"{prefix}.decay", **KEEP)
        if name == "freeze_first_k":
            n_blocks = len(_counting_model(backbone, head, 2).blocks)
            params["k"] = st.slider("Blocks kept fixed (k)", 0, n_blocks, min(2, n_blocks), key=f"{prefix}.k", **KEEP)
        lr = st.select_slider("Learning rate", [1e-4, 3e-4, 1e-3, 3e-3, 1e-2], value=1e-3, key=f"{prefix}.lr", **KEEP)
        size = st.select_slider("Image size (px)", IMAGE_SIZES, value=quick.image_size, key=f"{prefix}.size", **KEEP)
        batch = st.select_slider("Batch size", BATCH_SIZES, value=quick.batch_size, key=f"{prefix}.batch", **KEEP)
        optimizer = st.radio("Optimiser", ["adam", "sgd"], horizontal=True, key=f"{prefix}.optimizer", **KEEP)
        augment = st.multiselect("Augmentation", AUGMENTATIONS, key=f"{prefix}.augment", **KEEP,
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


def start(prefix: str, dataset: str, cfg: TrainConfig, names: list[str], force_cpu: bool) -> None:
    """Queue one run per strategy, then one process that carries them out; this session follows their ids."""
    cfgs = [cfg.with_strategy(name) for name in names]
    jobs.queue_and_start(prefix, lambda: transfer.queue(dataset, cfgs, RunStore()), force_cpu)


def live(prefix: str, task: str) -> None:
    """Progress of this session's job, polled every 2 s: which run, its phase or epoch, the metric so far, Stop."""
    def finished(ended: jobs.Ended) -> None:
        st.session_state[f"{prefix}.new"] = ended.done  # joins this session's comparison

    def progress(job: jobs.Job) -> None:
        runs = job.runs()
        running = next((r for r in runs if r.status == "running"), None)
        if running is not None:
            _progress(running, runs, task, prefix)
        elif any(r.status != "queued" for r in runs):  # between two runs, or the last has just ended
            st.info(f"{sum(r.status == 'done' for r in runs)} of {len(runs)} run(s) done; updating…",
                    icon=":material/hourglass_bottom:")
        else:
            st.info(f"Starting the training process for {len(runs)} run(s)…", icon=":material/hourglass_top:")
    jobs.panel(prefix, progress, finished, "Stopping: the run ends at its next step and keeps its last checkpoint…",
               stopped="It keeps the checkpoint of its last finished epoch; it never scored the test split, so it is "
                       "not among the runs compared here.")


def _progress(run: Run, runs: list[Run], task: str, prefix: str) -> None:
    history, phase = run.history, run.metrics.get("phase")
    headline = tasks.get(task).headline
    strategy, epochs = run.config.get("strategy", "?"), int(run.config.get("epochs", 1))
    nth = f"{[r.id for r in runs].index(run.id) + 1} of {len(runs)}"
    done = estimates.fraction_done(history, phase, epochs)
    training = bool(phase) and str(phase.get("name", "")).startswith("training, epoch")
    left = estimates.from_pace(time.time() - (run.started or time.time()), done) if training or history else None
    if phase and not training:  # reading the data, caching the frozen backbone's features
        text = f"Training **{strategy}** ({nth}): {estimates.phase_words(phase)}…"
    else:
        text = (f"Training **{strategy}** ({nth}): " +
                (f"epoch {len(history) + 1} of {epochs}, {phase['done']:,} of {phase['total']:,} images"
                 if training else f"epoch {len(history)} of {epochs} done") +
                (f" · validation {headline} {numbers.text(history[-1]['val'].get(headline))}" if history else "") +
                (f" · {estimates.words(left)} left for this run at its pace" if left else ""))
    st.progress(done, text=text)
    if history:
        frame = tx.history_frame({strategy: history})
        left, right = st.columns(2)
        figures.show(plots.learning_curves_figure(frame, "loss"), f"{prefix}.live.loss", "live-loss", where=left)
        figures.show(plots.learning_curves_figure(frame, headline), f"{prefix}.live.metric", f"live-{headline}",
                     where=right)


def estimate(choice: Choice, strategies: list[str]) -> str:
    """" (about 70 s here)": this machine's past runs of these settings, or "" when it has none of one of them."""
    if choice.data is None:
        return ""
    experiment = "classification" if choice.data.classes else "regression"
    return jobs.estimate(experiment, [transfer.run_config(choice.dataset, choice.data, choice.config.with_strategy(s))
                                      for s in strategies])


def controls(prefix: str, choice: Choice) -> None:
    """The buttons that start runs, or why they cannot; how the last job of this session ended."""
    if choice.problem:
        st.error(f"This dataset cannot train: {choice.problem}", icon=":material/error:")
        return
    busy = jobs.current(prefix) is not None
    force_cpu = bool(st.session_state.get(FORCE_CPU))
    left, right = st.columns(2)
    pretrained = backbones.available(choice.config.backbone)
    trio = list(tx.DEFAULT_STRATEGIES) if pretrained else ["scratch"]
    one, three = estimate(choice, [choice.config.strategy.name]), estimate(choice, trio)
    if left.button(f"Train **{choice.config.strategy.name}**{one}", key=f"{prefix}.train", disabled=busy,
                   type="primary", icon=":material/play_arrow:"):
        start(prefix, choice.dataset, choice.config, [choice.config.strategy.name], force_cpu)
        st.rerun()
    if right.button(f"Train {' · '.join(trio)} with these settings{three}", key=f"{prefix}.train3", disabled=busy,
                    icon=":material/playlist_play:"):
        start(prefix, choice.dataset, choice.config, trio, force_cpu)
        st.rerun()
