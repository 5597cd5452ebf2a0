"""Run every benchmark and write bench/results.json and bench/RESULTS.md."""

from __future__ import annotations

import json
import platform
import sys
import time
from pathlib import Path

import torch

from bench import data, face_detection, latency, metrics
from core import devices

OUT = Path(__file__).resolve().parent


def machine() -> dict:
    return {"python": platform.python_version(), "torch": torch.__version__, "cpu_threads": torch.get_num_threads(),
            "processor": platform.processor() or platform.machine(),
            "cuda": devices.describe(torch.device("cuda")) if torch.cuda.is_available() else None,
            "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}


def markdown(results: dict) -> str:
    m = results["machine"]
    lines = ["# Benchmark results", "",
             f"Written by `make bench` on {m['date']}: Python {m['python']}, torch {m['torch']}, "
             f"{m['cpu_threads']} CPU threads, GPU: {m['cuda'] or 'none'}. Medians of repeated runs after a "
             "warm-up; the machines are shared, so compare rows of one run, not across runs.", "",
             "## Inference latency (median ms per image)", "",
             "| variant | device | batch 1 | batch 32 | measures |", "|---|---|---:|---:|---|"]
    by_key: dict[tuple[str, str], dict[int, dict]] = {}
    for row in results["inference_latency"]:
        by_key.setdefault((row["variant"], row["device"]), {})[row["batch"]] = row
    for (variant, device), rows in by_key.items():
        lines.append(f"| {variant} | {device} | {rows[1]['ms_per_image']:.1f} | {rows[32]['ms_per_image']:.1f} | "
                     f"{rows[1]['measures']} |")
    c, r = results["coco_evaluation"], results["roc_million"]
    lines += ["", "## Evaluation speed", "",
              f"COCO-style bbox evaluation of {c['images']} images x {c['detections'] // c['images']} detections "
              f"(generated, 3 classes), median of {c['repeats']} interleaved runs on the same data:", "",
              "| implementation | seconds | ratio to pycocotools |", "|---|---:|---:|",
              f"| core.metrics.detection | {c['ours_s']:.2f} | {c['ratio']:.2f} |",
              f"| pycocotools | {c['pycocotools_s']:.2f} | 1.00 |", "",
              f"Largest difference over the twelve COCO numbers: {c['max_abs_difference']:.1e} (AP {c['AP']:.4f}).", "",
              f"ROC, AUC, EER, TAR@FAR and best accuracy of {r['scores']:,} scores: median {r['median_s']:.3f} s "
              f"over {r['repeats']} runs.", "", "## Dataset loading", "",
              f"{results['dataset_loading']['dataset']} ({results['dataset_loading']['images']} images, labels parsed and "
              f"every image checked): cold {results['dataset_loading']['cold_s']:.3f} s, warm (cached) "
              f"{results['dataset_loading']['warm_s'] * 1000:.3f} ms, medians of {results['dataset_loading']['repeats']}.",
              "", "## MTCNN over the cartoon test split", "",
              "facenet-pytorch's per-image `MTCNN.detect` loop against `core.models.mtcnn_batched` (images grouped by "
              "size for PNet, RNet and ONet batched across images, channels-last), same weights and thresholds "
              "(0.1, 0.2, 0.2), median of interleaved runs:", "",
              "| device | images | facenet loop s | batched s | speed-up | identical detections | new thresholds "
              "from the cache |", "|---|---:|---:|---:|---:|---|---:|"]
    lines += [f"| {m['device']} | {m['images']} | {m['facenet_loop_s']:.2f} | {m['batched_s']:.2f} | "
              f"{m['speedup']:.2f}x | {'yes' if m['identical_detections'] else 'NO'} | "
              f"{m['resolve_new_thresholds_ms']:.0f} ms |" for m in results["mtcnn_cartoon_test"]]
    return "\n".join(lines) + "\n"


def main() -> int:
    targets = [torch.device("cpu")] + ([torch.device("cuda")] if torch.cuda.is_available() else [])
    rows, mtcnn = [], []
    for device in targets:
        print(f"inference latency on {devices.describe(device)} …", file=sys.stderr)
        rows += latency.run(device)
        print(f"MTCNN over the cartoon test split on {device.type} …", file=sys.stderr)
        mtcnn.append(face_detection.run(device))
    print("COCO evaluation against pycocotools …", file=sys.stderr)
    coco = metrics.coco_vs_pycocotools()
    print("ROC of a million scores …", file=sys.stderr)
    roc = metrics.roc_million()
    print("dataset loading …", file=sys.stderr)
    loading = data.cartoon_load()
    results = {"machine": machine(), "inference_latency": rows, "coco_evaluation": coco, "roc_million": roc,
               "dataset_loading": loading, "mtcnn_cartoon_test": mtcnn}
    (OUT / "results.json").write_text(json.dumps(results, indent=1) + "\n")
    (OUT / "RESULTS.md").write_text(markdown(results))
    print(markdown(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
