import io
import shutil

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest
from PIL import Image

from core import plots
from core.experiments import tables
from core.metrics import classification, detection, paired, regression, verification
from core.models.outputs import Detections


def test_pr_figure_has_a_trace_and_a_marked_point_per_variant():
    curves = {"pretrained": detection.pr_curve(np.array([0.9, 0.8, 0.7]), np.array([1, 0, 1], bool), 3),
              "finetuned": detection.pr_curve(np.array([0.9, 0.8, 0.7]), np.array([1, 1, 1], bool), 3)}
    fig = plots.pr_figure(curves, operating={"pretrained": 0.75, "finetuned": 0.75})
    names = [t.name for t in fig.data if t.showlegend is not False]
    # TP, FP, TP of 3 truths: precision 1 up to recall 1/3 (34 of the 101 points), 2/3 up to 2/3 (33 points).
    assert names == [f"pretrained (AP {(34 + 33 * 2 / 3) / 101:.3f})", "finetuned (AP 1.000)"]
    marks = [(t.x[0], t.y[0]) for t in fig.data if t.mode == "markers"]
    assert marks == [(pytest.approx(1 / 3), pytest.approx(0.5)), (pytest.approx(2 / 3), 1.0)]


def test_roc_and_scatter_figures_report_their_numbers():
    rng = np.random.default_rng(0)
    y = rng.random(300) < 0.5
    res = {"a": verification.evaluate(y + rng.normal(0, 1, 300), y), "b": verification.evaluate(rng.random(300), y)}
    fig = plots.roc_figure(res)
    assert f"AUC {res['a'].auc:.3f}" in fig.data[1].name and "EER" in fig.data[3].name
    true = rng.uniform(0, 10, 50)
    pts = {"frozen": (true, true + rng.normal(0, 1, 50))}
    fig = plots.scatter_figure(pts, {"frozen": regression.evaluate(*pts["frozen"])})
    assert fig.data[0].name == "perfect" and "ρ" in fig.data[1].name


def test_confusion_heatmaps_share_one_colour_scale():
    a = classification.evaluate(np.array([0, 0, 1, 2]), np.array([0, 1, 1, 2]), ["x", "y", "z"])
    b = classification.evaluate(np.array([0, 0, 1, 2]), np.array([0, 0, 0, 0]), ["x", "y", "z"])
    fig = plots.confusion_figure({"scratch": a, "finetuned": b}, normalised=False)
    assert [(t.zmin, t.zmax) for t in fig.data] == [(0, 2.0), (0, 2.0)]
    assert [t.showscale for t in fig.data] == [False, True]


def test_learning_curves_mark_unfreezing_and_check_columns():
    history = pd.DataFrame({"variant": ["two-phase"] * 4, "epoch": [1, 1, 2, 2], "split": ["train", "val"] * 2,
                            "loss": [1.0, 1.1, 0.5, 0.7]})
    fig = plots.learning_curves_figure(history, unfreeze={"two-phase": [1.5]})
    assert len(fig.data) == 2 and fig.layout.shapes[0].x0 == 1.5
    with pytest.raises(ValueError, match="column 'accuracy'"):
        plots.learning_curves_figure(history, metric="accuracy")


def test_detections_coloured_as_tp_fp_fn():
    image = Image.new("RGB", (64, 64))
    dets = Detections(np.array([[0, 0, 10, 10], [30, 30, 40, 40]], float), np.array([0.9, 0.8]))
    truth = np.array([[0, 0, 10, 10], [50, 50, 60, 60]], float)
    fig = plots.detections_figure(image, dets, truth=truth)
    colours = sorted(s.line.color for s in fig.layout.shapes)
    assert colours == sorted(plots.MATCH_COLOURS[k] for k in ("TP", "FP", "FN"))


def test_boxes_overhanging_the_border_are_drawn_inside_the_image():
    image = Image.new("RGB", (80, 60))
    dets = Detections(np.array([[-12, -5, 30, 20], [50, 40, 95, 75]], float), np.array([0.9, 0.8]))
    fig = plots.detections_figure(image, dets)
    corners = [(s.x0, s.y0, s.x1, s.y1) for s in fig.layout.shapes]
    assert corners == [(0, 0, 30, 20), (50, 40, 80, 60)]
    assert fig.layout.annotations[0].yanchor == "top"  # at the top edge the label goes inside the box


def test_labels_of_boxes_that_crowd_together_never_overprint():
    image = Image.new("RGB", (200, 200))
    boxes = np.array([[40, 60, 90, 110], [42, 62, 92, 112], [44, 58, 95, 108], [140, 150, 190, 195]], float)
    dets = Detections(boxes, np.array([0.3, 0.9, 0.5, 0.7]))
    fig = plots.detections_figure(image, dets)
    assert len(fig.layout.shapes) == 4  # every box is drawn
    assert [a.text for a in fig.layout.annotations] == ["0.90", "0.70"]  # the surest of the crowd is labelled


def test_a_comparison_table_exports_as_a_figure():
    c = paired.Paired("AP", 0.61, 0.52, 0.09, (0.05, 0.13), 0.001, "paired bootstrap")
    frame = tables.comparisons_table([("finetuned", "pretrained", c)])
    assert plots.table_figure(frame).data[0].cells.values[0] == ["AP"]


@pytest.mark.skipif(not shutil.which("chromium"), reason="Debian chromium is not installed (make browser)")
def test_figures_export_to_png_and_svg():
    fig = plots.roc_figure({"a": verification.evaluate(np.array([0.1, 0.9, 0.4, 0.6]), np.array([0, 1, 0, 1]))})
    assert plots.export(fig, "png")[:8] == b"\x89PNG\r\n\x1a\n"
    assert b"<svg" in plots.export(fig, "svg")[:200]
    with pytest.raises(ValueError, match="unknown export format"):
        plots.export(fig, "gif")


def test_an_export_whose_browser_hangs_or_fails_ends_with_a_message(monkeypatch):
    """A browser that never answers (kaleido's own server waits forever then) and one that fails: ExportError
    naming the format and the reason, after EXPORT_TIMEOUT_S at most, instead of a download that never comes."""
    import threading

    fig = go.Figure(go.Scatter(x=[0, 1], y=[0, 1]))
    never = threading.Event()
    monkeypatch.setattr(plots, "EXPORT_TIMEOUT_S", 0.2)
    monkeypatch.setattr(go.Figure, "to_image", lambda self, **kw: never.wait())
    with pytest.raises(plots.FigureExportError, match="PNG: the browser did not answer within 0.2 s"):
        plots.export(fig, "png")

    def broken(self, **kw):
        raise RuntimeError("Chromium exited at start")
    monkeypatch.setattr(go.Figure, "to_image", broken)
    with pytest.raises(plots.FigureExportError, match="SVG: Chromium exited at start"):
        plots.export(fig, "svg")
    never.set()


def test_f1_figure_marks_the_best_threshold():
    curve = detection.pr_curve(np.array([0.9, 0.8, 0.7, 0.6, 0.5]), np.array([1, 0, 1, 0, 1], bool), 3)
    fig = plots.f1_figure({"pretrained": curve})
    assert fig.data[1].x[0] == 0.5 and fig.data[1].y[0] == pytest.approx(0.75)
    assert "best F1 0.750 at 0.500" in fig.data[0].name


def _curves(*names):
    return {n: detection.pr_curve(np.array([0.9, 0.8]), np.array([1, 0], bool), 2) for n in names}


def test_a_variant_keeps_its_colour_across_figures_and_names():
    full, short = "resnet18/finetune-20261123-101010-ab12cd", "finetune · 2 ep (12cd)"
    pr = plots.pr_figure(_curves(full, "mtcnn/pretrained"))
    rows = pd.DataFrame({"variant": [short, short], "epoch": [1, 1], "split": ["train", "val"], "loss": [1.0, 0.9]})
    curves = plots.learning_curves_figure(rows)
    assert pr.data[0].line.color == curves.data[0].line.color == plots.colour_of(full) == plots.colour_of(short)
    assert plots.colour_of(full + "@epoch3") != plots.colour_of(full)  # a checkpoint of a run is a variant too
    many = [f"variant {i}" for i in range(len(plots.VARIANT_COLOURS))]
    assert len({plots.colour_of(n) for n in many}) == len(many)  # no two share one while colours are left
    assert "#7f7f7f" not in plots.VARIANT_COLOURS  # grey is the reference lines'


def test_legends_sit_above_the_axes_and_no_band_is_left_empty():
    for fig in (plots.pr_figure(_curves("a", "b")), plots.f1_figure(_curves("a")),
                plots.roc_figure({"a": verification.evaluate(np.array([0.1, 0.9, 0.4, 0.6]), np.array([0, 1, 0, 1]))})):
        assert fig.layout.legend.y >= 1 and fig.layout.legend.yanchor == "bottom"
        assert fig.layout.margin.t <= 10 and fig.layout.title.text is None


def test_scatter_has_equal_axes_with_the_identity_line():
    true = np.array([0.0, 1.0, 2.0, 10.0])
    fig = plots.scatter_figure({"a": (true, true * 0.5)}, {"a": regression.evaluate(true, true * 0.5)})
    assert fig.layout.yaxis.scaleanchor == "x" and fig.layout.yaxis.scaleratio == 1
    assert fig.layout.xaxis.range == fig.layout.yaxis.range
    assert list(fig.data[0].x) == list(fig.data[0].y) == [0.0, 10.0]


def test_presentation_scales_every_font_and_leaves_the_original_alone():
    fig = plots.learning_curves_figure(pd.DataFrame({"variant": ["a"], "epoch": [1], "split": ["val"], "loss": [1.0]}),
                                       unfreeze={"a": [1]})
    big = plots.presenting(fig)
    assert big.layout.font.size > 12 and big.layout.legend.font.size > 12
    assert all(a.font.size > 12 for a in big.layout.annotations)  # the "unfreeze" label
    assert fig.layout.font.size is None
    table = plots.presenting(plots.table_figure(pd.DataFrame({"AP": [0.5, None]})))
    assert table.data[0].cells.font.size > 12 and table.data[0].cells.values[0] == ["0.500", "–"]


@pytest.mark.skipif(not shutil.which("chromium"), reason="Debian chromium is not installed (make browser)")
def test_a_table_exports_at_its_own_height_without_empty_space():
    fig = plots.table_figure(pd.DataFrame({"AP": [0.5]}))
    png = Image.open(io.BytesIO(plots.export(fig, "png", scale=1)))
    assert png.size == (1000, fig.layout.height) and png.size[1] < 200


def test_split_sizes_read_as_words_with_the_usual_splits_first():
    from ui.figures import counted

    assert counted({"test": 229, "extra": 7, "train": 1095, "val": 235}) == "train 1,095 · val 235 · test 229 · extra 7"
    assert counted({}) == ""
