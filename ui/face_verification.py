"""The face-verification page's Streamlit glue: the pairs and embeddings cached per variant, fine-tuning
runs started from the page (queued, their own process, followed by id), and the pair pictures."""

from __future__ import annotations

import dataclasses

import numpy as np
import plotly.graph_objects as go
import streamlit as st
from PIL import Image, ImageOps

from core import devices, numbers, registry
from core.data import catalogue
from core.data.identities import person_of
from core.data.types import open_image
from core.engine.store import RunStore
from core.metrics import verification
from core.studies.face_verification import experiment as fv
from core.studies.face_verification import train as trainer
from ui import cache, jobs
from ui.image_input import uploaded
from ui.settings import KEEP

PREFIX = "verify"
THUMB = 112
HARDEST = 4


@st.cache_resource(max_entries=4, show_spinner="Reading the pairs…")
def pair_set(dataset: str, source: str) -> fv.PairSet:
    return fv.pair_set(catalogue.pairs(dataset, "test"))


@st.cache_resource(max_entries=4, show_spinner="Reading the test people…")
def test_people(dataset: str, source: str) -> tuple[list, np.ndarray]:
    people = catalogue.people(dataset)
    idx = np.flatnonzero(people.split == "test")
    return [people.images[i] for i in idx], people.targets[idx]


@st.cache_resource(max_entries=24, show_spinner="Embedding every image of the set (once per variant)…")
def embedded(variant: str, device_name: str, dataset: str, mode: str, source: str) -> fv.Embedded:
    images = test_people(dataset, source)[0] if mode == "all pairs" else pair_set(dataset, source).images
    return fv.embed(registry.variant(variant), images, devices.pick_device(force_cpu=device_name == "cpu"))


@st.cache_resource(max_entries=8, show_spinner="Timing the variants side by side (interleaved rounds)…")
def timings(names: tuple[str, ...], device_name: str, dataset: str, mode: str, source: str) -> dict:
    images = test_people(dataset, source)[0] if mode == "all pairs" else pair_set(dataset, source).images
    return fv.time_variants([registry.variant(n) for n in names], images,
                            devices.pick_device(force_cpu=device_name == "cpu"))


def variants_for(dataset: str, backbone: str, tap: str, distance: str, with_reference: bool) -> list[registry.Variant]:
    """The pretrained embedding, the fine-tuned runs of that backbone and tap, and dlib's reference."""
    found = [registry.BUILTIN[f"{backbone}/imagenet-{tap}"]]
    found += [registry.run_variant(r) for r in fv.runs_on(dataset, backbone, tap, distance, RunStore())]
    found += [v for v in registry.imported_variants().values() if v.task == "face_verification"]  # yours
    if with_reference:
        found.append(registry.DLIB_REFERENCE)
    return found


def _recipes(backbone: str, tap: str, distance: str, recipes: list[str], epochs: int) -> list:
    base = dataclasses.replace(trainer.quick_config(backbone), epochs=epochs)
    return [trainer.recipe(base, trainer.EmbedConfig(tap, distance), name) for name in recipes]


def estimate(dataset: str, backbone: str, tap: str, distance: str, recipes: list[str], epochs: int) -> str:
    """" (about 4 min here)" for the Start button: these runs' past durations on this machine, or "" when any of
    them has not run here yet."""
    return jobs.estimate(trainer.TASK, [trainer.run_config(dataset, cfg, emb)
                                        for cfg, emb in _recipes(backbone, tap, distance, recipes, epochs)])


def start_training(dataset: str, backbone: str, tap: str, distance: str, recipes: list[str], epochs: int,
                   force_cpu: bool) -> None:
    runs = _recipes(backbone, tap, distance, recipes, epochs)
    jobs.queue_and_start(PREFIX, lambda: trainer.queue(dataset, runs, RunStore()), force_cpu)


def training_status() -> None:
    jobs.panel(PREFIX, _progress)  # a finished run is listed by variants_for on the rerun


def _progress(job: jobs.Job) -> None:
    run, nth = jobs.running_run(job)
    label, epochs = run.config.get("label", "?"), int(run.config.get("epochs", 1))
    if run.history:
        last = run.history[-1]
        st.progress(len(run.history) / epochs, text=f"Fine-tuning **{label}** ({nth}): epoch {len(run.history)} of "
                                                    f"{epochs}, validation AUC {numbers.text(last['val'].get('AUC'))}")
    else:
        st.info(f"Fine-tuning **{label}** ({nth}): starting…")


def operating_points(fig: go.Figure, points: dict[str, verification.Confusion]) -> go.Figure:
    """Each variant's operating point (FAR, TAR) on its ROC, a ring in its colour; the markers named in the legend."""
    colours = {t.legendgroup: t.line.color for t in fig.data if t.legendgroup and t.mode == "lines"}
    for name, c in points.items():
        fig.add_trace(go.Scatter(x=[c.far], y=[c.tar], mode="markers", showlegend=False, legendgroup=name,
                                 marker=dict(size=15, color=colours.get(name, "black"), symbol="circle-open",
                                             line=dict(width=3)),
                                 hovertemplate=f"{name}: FAR %{{x:.3f}}, TAR %{{y:.3f}}<extra></extra>"))
    for symbol, words in (("circle-open", "○ its operating point"), ("x", "× its equal-error point")):
        fig.add_trace(go.Scatter(x=[None], y=[None], mode="markers", name=words,
                                 marker=dict(size=11, color="grey", symbol=symbol, line=dict(width=2))))
    fig.update_layout(height=560)
    return fig


def thumb(ref: object) -> Image.Image:
    return ImageOps.contain(open_image(ref), (THUMB, THUMB))


def hardest(distances: np.ndarray, same: np.ndarray, threshold: float) -> tuple[np.ndarray, np.ndarray]:
    """Pair indices: false accepts (different people, closest first) and false rejects (same person, furthest
    first) at the threshold, HARDEST of each."""
    d = np.asarray(distances)
    fa = np.flatnonzero(~same & (d <= threshold))
    fr = np.flatnonzero(same & (d > threshold))
    return fa[np.argsort(d[fa], kind="stable")][:HARDEST], fr[np.argsort(-d[fr], kind="stable")][:HARDEST]


def side_by_side(a: object, b: object) -> Image.Image:
    """Both faces of a pair in one picture, a on the left."""
    canvas = Image.new("RGB", (2 * THUMB + 4, THUMB), "white")
    for k, ref in enumerate((a, b)):
        face = thumb(ref)
        canvas.paste(face, (k * (THUMB + 4) + (THUMB - face.width) // 2, (THUMB - face.height) // 2))
    return canvas


def pair_row(ps: fv.PairSet, indices: np.ndarray, distances: np.ndarray) -> None:
    if not len(indices):
        st.caption("None at this threshold.")
        return
    for col, i in zip(st.columns(HARDEST), indices, strict=False):
        col.image(side_by_side(ps.images[ps.a[i]], ps.images[ps.b[i]]), width="stretch")
        col.caption(f"pair {i} · distance **{distances[i]:.3f}** · {person_of(ps.images[ps.a[i]])} and "
                    f"{person_of(ps.images[ps.b[i]])}")


def _face(side: str, ps: fv.PairSet, default: int) -> tuple[Image.Image, str] | None:
    """One face for "verify two faces": an image of the pairs set, or an upload (checked like every upload)."""
    how = st.radio(f"Face {side}", ["from the pairs", "upload"], horizontal=True, key=f"verify.two.{side}.how", **KEEP)
    if how == "upload":
        picked = uploaded(f"Face {side} (JPEG, PNG, WebP, BMP, TIFF or GIF)", f"verify.two.{side}.file",
                          "Choose an image file.")
        return None if picked is None else (picked.loaded.image, picked.key)
    index = st.number_input(f"Image (0–{len(ps.images) - 1})", 0, len(ps.images) - 1, default,
                            key=f"verify.two.{side}.index", **KEEP)
    ref = ps.images[int(index)]
    st.caption(f"{person_of(ref)}")
    return open_image(ref), f"pairs:{ref}"


@st.cache_data(max_entries=64, show_spinner="Embedding the two faces…")
def _two(variant: str, device_name: str, key_a: str, key_b: str, _a: Image.Image, _b: Image.Image
         ) -> tuple[np.ndarray, np.ndarray]:
    out = cache.predictor(variant, device_name).embed([_a, _b])
    return out.vectors, out.found


def verify_two(ps: fv.PairSet, variants: list[registry.Variant], scored: dict[str, fv.ScoredPairs], distance: str,
               thresholds: dict[str, float], device_name: str) -> None:
    """Two faces, every variant's distance (normalised by its largest on the pairs set) and its decision at its own
    threshold (the operating point above)."""
    faces = []
    for side, col, default in zip("AB", st.columns(2), (0, 1), strict=True):
        with col:
            face = _face(side, ps, default)
            if face is not None:
                st.image(ImageOps.contain(face[0], (THUMB * 2, THUMB * 2)))
            faces.append(face)
    if None in faces:
        return
    rows = []
    for v in variants:
        vectors, found = _two(v.name, device_name, faces[0][1], faces[1][1], faces[0][0], faces[1][0])
        raw = verification.pair_distances(vectors[:1], vectors[1:], distance)
        d = float(verification.normalise(raw, distance, scored[v.name].largest)[0])
        rows.append({"variant": fv.label(v), "distance": round(d, 3), "its threshold": round(thresholds[v.name], 3),
                     "decision": "same person" if d <= thresholds[v.name] else "different people",
                     "faces found": f"{int(found.sum())} of 2" if v.family == "dlib" else "(whole images)"})
    st.table(rows)
    st.caption("Each variant decides at its own threshold for the false accept rate above; a Euclidean distance is "
               "divided by the variant's largest on the pairs set, so it can exceed 1 for faces unlike any there.")
