import io
import json
import subprocess
import sys
from contextlib import redirect_stderr, redirect_stdout

import numpy as np
import pandas as pd
import pytest

from core.metrics import detection
from core.metrics.__main__ import main
from core.metrics.synthetic import make_coco_set


def cli(*args: str) -> subprocess.CompletedProcess:
    """`python -m core.metrics ARGS` in this process (the last test runs the real command)."""
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        try:
            code = main(list(args))
        except SystemExit as exc:  # argparse: --help, bad choices
            code = exc.code
    return subprocess.CompletedProcess(args, code, out.getvalue(), err.getvalue())


def test_detection_cli_prints_the_summary(tmp_path):
    gt, results = make_coco_set(21, 80)
    (tmp_path / "gt.json").write_text(json.dumps(gt))
    (tmp_path / "pred.json").write_text(json.dumps(results))
    out = cli("detection", str(tmp_path / "gt.json"), str(tmp_path / "pred.json"))
    assert out.returncode == 0, out.stderr
    printed = json.loads(out.stdout)
    truth, dets, names = detection.from_coco(gt, results)
    expected = detection.evaluate(truth, dets, class_names=names).stats
    for key in ("AP", "AP50", "AP75", "AP_VOC50"):
        assert printed[key] == pytest.approx(expected[key])
    assert printed["n_images"] == 80 and printed["n_detections"] == len(results)


def test_classification_cli_with_a_second_variant(tmp_path):
    rng = np.random.default_rng(0)
    true = rng.choice(["car", "person", "cyclist"], 300)
    pred = np.where(rng.random(300) < 0.8, true, "car")
    pred_b = np.where(rng.random(300) < 0.5, true, "car")
    pd.DataFrame({"true": true, "pred": pred, "pred_b": pred_b}).to_csv(tmp_path / "c.csv", index=False)
    out = json.loads(cli("classification", str(tmp_path / "c.csv")).stdout)
    assert out["classes"] == ["car", "cyclist", "person"] and out["accuracy"] == pytest.approx((pred == true).mean())
    tests = {c["test"] for c in out["comparisons"]}
    assert "paired bootstrap" in tests and any(t.startswith("McNemar") for t in tests)


def test_verification_cli_reads_distances_and_compares(tmp_path):
    rng = np.random.default_rng(1)
    label = rng.random(200) < 0.5
    pd.DataFrame({"label": label.astype(int), "distance": rng.normal(2 - label, 0.5).clip(0),
                  "distance_b": rng.normal(2 - 0.3 * label, 0.5).clip(0)}).to_csv(tmp_path / "v.csv", index=False)
    out = json.loads(cli("verification", str(tmp_path / "v.csv")).stdout)
    assert 0.8 < out["AUC"] <= 1 and out["comparisons"][0]["test"] == "DeLong" and out["comparisons"][0]["delta"] > 0


def test_regression_cli(tmp_path):
    pd.DataFrame({"true": [1.0, 2.0, 3.0, 4.0], "pred": [1.5, 2.0, 2.5, 4.5]}).to_csv(tmp_path / "r.csv", index=False)
    out = json.loads(cli("regression", str(tmp_path / "r.csv")).stdout)
    assert out["mae"] == pytest.approx(0.375) and out["n"] == 4


@pytest.mark.parametrize("task, content, message", [
    ("regression", "true,pred\n1,2\n2,nan\n", "y_pred has a NaN or infinite value (first at index 1)"),
    ("classification", "truth,guess\na,b\n", "needs a column named true"),
    ("verification", "label,score\n1,0.3\n1,0.2\n", "both classes"),
    ("detection", "not json", "is not valid JSON"),
])
def test_cli_bad_input_is_one_message_and_exit_2(tmp_path, task, content, message):
    path = tmp_path / "in.txt"
    path.write_text(content)
    args = [str(path), str(path)] if task == "detection" else [str(path)]
    out = cli(task, *args)
    assert out.returncode == 2 and message in out.stderr and "Traceback" not in out.stderr


def test_cli_help_documents_the_columns():
    out = subprocess.run([sys.executable, "-m", "core.metrics", "--help"], capture_output=True, text=True)
    assert out.returncode == 0 and "pred_b" in out.stdout and "distance" in out.stdout
