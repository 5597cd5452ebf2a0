"""A run, or several, as files to keep or share: a zip bundle (config, environment, metrics CSV, events JSON,
figures as PNG and SVG, the report, the checkpoint when asked) and a one-page HTML report whose interactive
figures work with no network (plotly's script is inside the file)."""

from __future__ import annotations

import html
import io
import json
import platform
import socket
import subprocess
import zipfile
from importlib import metadata
from pathlib import Path

import pandas as pd
import plotly.graph_objects as go

from core import devices, numbers, plots
from core.engine.store import Run, RunStore
from core.runs import Row, finals, row

PACKAGES = ("torch", "torchvision", "streamlit", "plotly", "pandas", "numpy", "scikit-learn", "ultralytics",
            "facenet-pytorch", "grad-cam")


class ExportError(RuntimeError):
    """The export cannot be made as asked; the message says what is missing."""


def environment() -> dict:
    """What made these files: package versions, the device, the git commit of this code, the machine."""
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5,
                                cwd=Path(__file__).resolve().parents[2]).stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        commit = None
    return {"python": platform.python_version(), "platform": platform.platform(), "host": socket.gethostname(),
            "device": devices.describe(devices.pick_device()), "git_commit": commit, "packages": versions}


def metrics_frame(run: Run) -> pd.DataFrame:
    """The run's epochs as rows: epoch, losses, each validation metric (val/…), seconds, trainable parameters."""
    rows = []
    for h in run.history:
        flat = {"epoch": h["epoch"] + 1, "phase": h.get("phase") or "", "train_loss": h.get("train_loss"),
                "val_loss": h.get("val_loss"), "train_accuracy": h.get("train_accuracy")}
        flat |= {f"val/{k}": v for k, v in (h.get("val") or {}).items()}
        flat |= numbers.why_columns({f"val/{k}": v for k, v in (h.get("val") or {}).items()})
        flat |= {f"loss/{k}": v for k, v in (h.get("losses") or {}).items()}
        flat |= {"seconds": h.get("seconds"), "trainable": h.get("trainable")}
        rows.append(flat)
    return pd.DataFrame(rows)


def curves_figure(runs: list[Run], metric: str = "loss", against: str = "epoch") -> go.Figure:
    """Each run's training (dashed) and validation (solid) curve of one metric, against epoch or wall-clock
    seconds since the run started; one stable colour per run."""
    fig = go.Figure()
    for run in runs:
        frame = metrics_frame(run)
        if frame.empty:
            continue
        x = frame["epoch"] if against == "epoch" else frame["seconds"].fillna(0).cumsum()
        label = run.title
        colour = plots.colour_of(f"{run.experiment}/{run.id}")
        for column, dash, split in ((f"train_{metric}", "dash", "train"), (f"val_{metric}", "solid", "val"),
                                    (f"val/{metric}", "solid", "val")):
            if column in frame and frame[column].notna().any():
                fig.add_trace(go.Scatter(x=x, y=frame[column], mode="lines+markers", legendgroup=label,
                                         line=dict(color=colour, dash=dash), name=f"{label} {split}"))
            if column in frame:
                plots.mark_undefined(fig, x, frame.get(f"{column}{numbers.WHY}"), colour, f"{label} {split}")
    fig.update_layout(xaxis=dict(title="epoch" if against == "epoch" else "seconds since start"),
                      yaxis=dict(title=metric))
    return plots.finish(fig)


def _rows_table(rows: list[Row]) -> str:
    frame = pd.DataFrame([r.as_dict() for r in rows]).drop(columns=["message"])
    frame["tags"] = frame["tags"].map(", ".join)
    frame["value"] = frame["value"].map(lambda v: "–" if v is None or pd.isna(v) else f"{v:.3f}")
    return frame.to_html(index=False, border=0, classes="runs", na_rep="–", escape=True)


def _config_table(runs: list[Run]) -> str:
    """Every config field of these runs, the fields that differ first and marked."""
    keys = sorted({k for r in runs for k in r.config if not isinstance(r.config[k], dict)})
    differ = [k for k in keys if len({json.dumps(r.config.get(k), sort_keys=True) for r in runs}) > 1]
    head = "".join(f"<th>{html.escape(r.title)}</th>" for r in runs)
    body = []
    for k in differ + [k for k in keys if k not in differ]:
        mark = ' class="differs"' if k in differ else ""
        cells = "".join(f"<td>{html.escape(json.dumps(r.config.get(k)))}</td>" for r in runs)
        body.append(f"<tr{mark}><th>{html.escape(k)}</th>{cells}</tr>")
    return f'<table class="config"><tr><th>field</th>{head}</tr>{"".join(body)}</table>'


def _finals_table(runs: list[Run], of: dict[str, list[finals.Final]]) -> str:
    cells, overs = finals.table(runs, of)
    if not cells:
        return "<p>None of these runs kept numbers to compute a CI from.</p>"
    head = "".join(f"<th>{html.escape(r.title)}</th>" for r in runs)
    body = "".join(f"<tr><th>{html.escape(n)}</th>" + "".join(f"<td>{html.escape(row[r.title])}</td>" for r in runs)
                   + "</tr>" for n, row in cells.items())
    return (f'<table class="finals"><tr><th>number</th>{head}</tr>{body}</table>'
            f"<p>Value [95% bootstrap CI]. Resampled: {html.escape('; '.join(overs))}.</p>")


def report_html(runs: list[Run], title: str | None = None) -> str:
    """One self-contained page: the runs' rows, their configs (differences highlighted), their curves."""
    if not runs:
        raise ExportError("no runs to report on")
    title = title or (f"Run {runs[0].title}" if len(runs) == 1 else f"{len(runs)} runs compared")
    figures = [curves_figure(runs, "loss")]
    metrics = sorted({k for r in runs for h in r.history for k in (h.get("val") or {})})
    figures += [curves_figure(runs, m) for m in metrics[:4]]
    parts = [f.to_html(full_html=False, include_plotlyjs=(i == 0), config={"displaylogo": False})
             for i, f in enumerate(figures)]
    env = environment()
    style = ("body{font-family:system-ui,sans-serif;margin:2rem;max-width:1200px}table{border-collapse:collapse;"
             "margin:1rem 0;font-size:14px}td,th{border-bottom:1px solid #ddd;padding:4px 8px;text-align:left}"
             "tr.differs{background:#fff3c4}")
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
            f"<style>{style}</style></head><body><h1>{html.escape(title)}</h1>"
            f"<h2>Runs</h2>{_rows_table([row(r) for r in runs])}"
            f"<h2>Final numbers</h2>{_finals_table(runs, {r.id: finals.of(r) for r in runs})}"
            f"<h2>Settings</h2><p>Highlighted: the fields that differ between these runs.</p>{_config_table(runs)}"
            f"<h2>Curves</h2>{''.join(parts)}"
            f"<h2>Environment</h2><pre>{html.escape(json.dumps(env, indent=2))}</pre></body></html>")


def missing_files(run: Run) -> list[str]:
    """The files the run's record names that are not on disk."""
    named = [run.checkpoint] if run.checkpoint else []
    named += [c["path"] for c in run.metrics.get("checkpoints", []) if isinstance(c, dict) and "path" in c]
    return [p for p in dict.fromkeys(named) if not Path(p).is_file()]


def bundle(runs: list[Run], store: RunStore, checkpoint: bool = False, figures: bool = True) -> bytes:
    """The zip bundle of these runs: per run config.json, metrics.csv, events.json, final.json (final numbers
    with 95% CIs) and (checkpoint=True) its files;
    environment.json, report.html, and the curves as PNG and SVG when a browser for export is installed.
    ExportError naming the files when a checkpoint is asked for and its files are gone."""
    if not runs:
        raise ExportError("no runs to export")
    if checkpoint:
        gone = {r.id: missing_files(r) for r in runs}
        gone = {k: v for k, v in gone.items() if v}
        if gone:
            raise ExportError("Cannot include the checkpoints: " + "; ".join(
                f"run {k} lacks {', '.join(Path(p).name for p in v)}" for k, v in gone.items())
                + ". Export without checkpoints, or delete the run.")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as z:
        for run in runs:
            folder = f"runs/{run.id}" if len(runs) > 1 else "run"
            record = {"id": run.id, "name": run.name, "tags": list(run.tags), "note": run.note,
                      "experiment": run.experiment, "base_variant": run.base_variant, "task": run.task,
                      "status": run.status, "message": run.message, "created": run.created, "started": run.started,
                      "ended": run.updated, "checkpoint_label": run.checkpoint_label, "config": run.config}
            z.writestr(f"{folder}/config.json", json.dumps(record, indent=2))
            z.writestr(f"{folder}/metrics.csv", metrics_frame(run).to_csv(index=False))
            z.writestr(f"{folder}/events.json", json.dumps(run.metrics, indent=2))
            z.writestr(f"{folder}/final.json", json.dumps([f.as_dict() | {"name": f.name} for f in finals.of(run)],
                                                          indent=2))
            if checkpoint:
                for path in store.files(run.id):
                    z.write(path, f"{folder}/checkpoint/{path.relative_to(store.checkpoint_path(run.id).parent)}")
        z.writestr("environment.json", json.dumps(environment(), indent=2))
        z.writestr("report.html", report_html(runs))
        if figures and plots.export_available():
            for fmt in plots.EXPORT_FORMATS:
                z.writestr(f"figures/loss.{fmt}", plots.export(curves_figure(runs, "loss"), fmt))
    return buffer.getvalue()
