"""Run every benchmark and write bench/results.json and bench/RESULTS.md."""

from __future__ import annotations

import json
import platform
import sys
import time
from pathlib import Path

import torch

from bench import data, face_detection, features, imported, latency, metrics, prepare, seeds, talk, transfer, verification, yolo
from core import devices
from core.models import mtcnn_batched

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
              "", "## Face verification: every pair of a set of embeddings", "",
              "`core.metrics.verification.all_pairs_roc`: about a million distances at a time, each pair adding one to its "
              "bin's same or different count (65,536 bins); against every distance held at once and scored by "
              "scikit-learn. Each row runs in its own process; extra memory is the peak above the process's memory "
              "just before the call (embeddings already there).", "",
              "| embeddings | dim | pairs | method | median s | runs | peak extra MB | AUC |",
              "|---:|---:|---:|---|---:|---:|---:|---:|"]
    lines += [f"| {v['embeddings']:,} | {v['dim']} | {v['pairs']:,} | {v['method']} | {v['median_s']:.2f} | "
              f"{v['runs']} | {v['peak_extra_mb']:.0f} | {v['auc']:.4f} |" for v in results.get("verification_all_pairs", [])]
    lines += ["", "## MTCNN over the cartoon test split", "",
              "facenet-pytorch's per-image `MTCNN.detect` loop against `core.models.mtcnn_batched` (images grouped by "
              "size for PNet, RNet and ONet batched across images, channels-last), same weights and thresholds "
              f"{mtcnn_batched.STUDY_THRESHOLDS}, median of interleaved runs:", "",
              "| device | images | facenet loop s | batched s | speed-up | identical detections | new thresholds "
              "from the cache |", "|---|---:|---:|---:|---:|---|---:|"]
    lines += [f"| {m['device']} | {m['images']} | {m['facenet_loop_s']:.2f} | {m['batched_s']:.2f} | "
              f"{m['speedup']:.2f}x | {'yes' if m['identical_detections'] else 'NO'} | "
              f"{m['resolve_new_thresholds_ms']:.0f} ms |" for m in results["mtcnn_cartoon_test"]]
    lines += ["", "## Backbone transfer: training loop", "",
              "Frozen MobileNetV2 + linear head on the imbalanced Fashion-MNIST set: features computed once and cached "
              "(core.engine.loop) against the usual loop that runs the frozen backbone every step (BatchNorm in eval "
              "in both), same seed and batches:", "",
              "| device | px | train images | cached s/epoch | recompute s/epoch | speed-up per epoch | cached total s "
              "| mCA cached | mCA recompute |", "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    lines += [f"| {f['device']} | {f['image_size']} | {f['train_images']} | {f['cached_epoch_s']:.3f} | "
              f"{f['recompute_epoch_s']:.2f} | {f['speedup_per_epoch']:.0f}x | {f['cached_total_s']:.2f} | "
              f"{f['cached_mCA']:.3f} | {f['recompute_mCA']:.3f} |" for f in results["transfer_frozen_cache"]]
    lines += ["", "Full fine-tune, the loop's streamed epoch (train + validation pass; DataLoader, images resized per "
              "sample, kept after the first pass when the split fits in 256 MB) against a plain reference loop over "
              "the split preprocessed into one tensor (as the loop did before it streamed), same model, data, batch "
              "and order, interleaved, median epoch:", "",
              "| device | px | batch | loop img/s | reference img/s | ratio |", "|---|---:|---:|---:|---:|---:|"]
    lines += [f"| {f['device']} | {f['image_size']} | {f['batch_size']} | {f['loop_images_per_s']:.0f} | "
              f"{f['reference_images_per_s']:.0f} | {f['ratio']:.2f} |" for f in results["transfer_finetune_throughput"]]
    mem = results.get("transfer_streamed_memory") or {"skipped": "not measured"}
    lines += ["", "Streamed memory: " + (mem["skipped"] if "skipped" in mem else
              f"fine-tuning on full Fashion-MNIST ({mem['images']:,} images) at {mem['image_size']} px, batch "
              f"{mem['batch_size']}, {mem['batches_per_pass']} batches per pass: the trainer's peak RSS was "
              f"{mem['peak_rss_gb']:.2f} GB ({mem['seconds']:.0f} s; its DataLoader worker, whose RSS also counts the "
              f"pages it shares with the trainer, peaked at {mem.get('largest_process_rss_gb', float('nan')):.2f} GB); "
              f"the training split stacked as one float tensor would be {mem['stacked_split_gb']:.0f} GB.")]
    amp = results.get("transfer_mixed_precision")
    lines += ["", "On CUDA, fp16 autocast + channels_last against fp32 (fine-tune): " + (
        f"{amp['amp_epoch_s']:.2f} s against {amp['fp32_epoch_s']:.2f} s per epoch, {amp['speedup']:.2f}x "
        f"({amp['device']}, {amp['image_size']} px)." if amp else "not measured (no GPU in this run).")]
    lines += ["", "## Quick default comparisons (`python -m core.experiments classification|regression`)", "",
              "End to end: three runs trained and recorded, then scored with bootstrap CIs.", "",
              "| task | dataset | setting | seconds | scratch | frozen | fine-tuned |", "|---|---|---|---:|---:|---:|---:|"]
    for e in results["transfer_experiments"]:
        c = e["config"]
        cells = [f"{e[s]:.3f} [{e['ci95'][s][0]:.3f}, {e['ci95'][s][1]:.3f}]" for s in ("scratch", "frozen", "finetune")]
        lines.append(f"| {e['task']} ({e['headline']}) | {e['dataset']} | {c['backbone']}, {c['head']} head, "
                     f"{c['image_size']} px, {c['epochs']} epochs | {e['seconds']:.0f} | {' | '.join(cells)} |")
    lines += yolo_markdown(results.get("yolo"))
    lines += features_markdown(results.get("features"))
    lines += prepare.markdown(results.get("prepare"))
    lines += seeds.markdown(results.get("seeds"))
    lines += talk.markdown(results.get("talk"))
    lines += imported.markdown(results.get("imported"))
    return "\n".join(lines) + "\n"


def features_markdown(found: dict | None) -> list[str]:
    lines = ["", "## Feature extraction", ""]
    if not found:
        return lines + ["Not measured yet: `python -m bench features`."]
    s = found["svm"]
    lines += [f"5-fold probe of {s['images']:,} x {s['features']:,} cached features ({s['dataset']}, MobileNetV2 "
              f"`{features.LAYER}`, {features.SIZE} px; extracted once in {s['extract_s']:.1f} s), read from the cache "
              f"and cross-validated, median of {s['repeats']} interleaved runs (target: at most 10 s on CPU):", "",
              "| classifier | median s | balanced accuracy |", "|---|---:|---:|",
              f"| linear SVM, libsvm linear kernel (default) | {s['linear_svm_median_s']:.2f} | "
              f"{s['linear_svm_balanced_accuracy']:.3f} |",
              f"| linear SVM, liblinear LinearSVC | {s['linear_svc_median_s']:.2f} | "
              f"{s['linear_svc_balanced_accuracy']:.3f} |", "",
              "Extraction throughput on the same preprocessed batches: the traced extractor (torchvision "
              "`create_feature_extractor`, tapping the layer, then pooling) against the backbone's own forward pass "
              "(blocks, then pooling), interleaved, medians:", "",
              "| device | images | batch | px | backbone img/s | extractor img/s | ratio |",
              "|---|---:|---:|---:|---:|---:|---:|"]
    lines += [f"| {t['device']} | {t['images']} | {t['batch']} | {t['image_size']} | {t['plain_images_per_s']:.0f} | "
              f"{t['extractor_images_per_s']:.0f} | {t['ratio']:.2f} |" for t in found["throughput"]]
    return lines


def yolo_markdown(found: list | None) -> list[str]:
    lines = ["", "## YOLO from scratch and from pretrained weights", ""]
    if not found:
        return lines + ["Not measured yet: `python -m bench detection`."]
    lines += ["Both starts trained as the pages train them "
              f"(`python -m core.studies.object_detection {' '.join(yolo.SETTINGS)}`), "
              "then timed on the cartoon test images (median of repeats after a warm-up):", "",
              "| device | start | architecture | px | train images/s | ms/image batch 1 | ms/image batch 16 |",
              "|---|---|---|---:|---:|---:|---:|"]
    for r in [r for f in found for r in f["runs"]]:
        lines.append(f"| {r['device']} | {r['start']} ({r['source']}) | {r['architecture']} | {r['image_size']} | "
                     f"{r['train_images_per_s']:.1f} | {r['ms_per_image_batch1']:.1f} | {r['ms_per_image_batch16']:.1f} |")
    lines += ["", "AP on the same predictions (the pretrained start's last checkpoint): ours (`core.metrics.detection."
              "evaluate`, COCO rules, ten IoUs) against ultralytics' matching and `ap_per_class`, interleaved, medians:",
              "", "| device | images | detections | ours s | ultralytics s | ratio | AP50 ours | AP50 ultralytics |",
              "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for f in found:
        for t in f["ap_time"].values():
            lines.append(f"| {f['runs'][0]['device']} | {t['images']:,} | {t['detections']:,} | {t['ours_s']:.3f} | "
                         f"{t['ultralytics_s']:.3f} | {t['ratio']:.2f} | {t['AP50_ours']:.4f} | "
                         f"{t['AP50_ultralytics']:.4f} |")
    return lines


def _detection(targets: list[torch.device]) -> dict:
    found = []
    for device in targets:
        print(f"YOLO scratch and pretrained on {device.type} (about 3 minutes on 2 CPU cores) …", file=sys.stderr)
        found.append(yolo.run(device))
    return {"yolo": found}


def _inference(targets: list[torch.device]) -> dict:
    rows, mtcnn = [], []
    for device in targets:
        print(f"inference latency on {devices.describe(device)} …", file=sys.stderr)
        rows += latency.run(device)
        print(f"MTCNN over the cartoon test split on {device.type} …", file=sys.stderr)
        mtcnn.append(face_detection.run(device))
    return {"inference_latency": rows, "mtcnn_cartoon_test": mtcnn}


def _evaluation(targets: list[torch.device]) -> dict:
    print("COCO evaluation against pycocotools …", file=sys.stderr)
    coco = metrics.coco_vs_pycocotools()
    print("ROC of a million scores …", file=sys.stderr)
    roc = metrics.roc_million()
    print("dataset loading …", file=sys.stderr)
    loading = data.cartoon_load()
    print("verification ROC over all pairs (3,708 and 20,000 embeddings) …", file=sys.stderr)
    return {"coco_evaluation": coco, "roc_million": roc, "dataset_loading": loading,
            "verification_all_pairs": verification.all_pairs()}


def _training(targets: list[torch.device]) -> dict:
    frozen, finetune = [], []
    for device in targets:
        print(f"transfer training loop on {device.type} …", file=sys.stderr)
        frozen.append(transfer.frozen_cache(device))
        finetune += [transfer.finetune_throughput(device, size, repeats=2 if size < 100 else 1) for size in (32, 128)]
    print("streamed memory on full Fashion-MNIST at 224 px …", file=sys.stderr)
    memory = transfer.streamed_memory()
    amp = transfer.mixed_precision(torch.device("cuda")) if torch.cuda.is_available() else None
    return {"transfer_frozen_cache": frozen, "transfer_finetune_throughput": finetune,
            "transfer_streamed_memory": memory, "transfer_mixed_precision": amp}


def _experiments(targets: list[torch.device]) -> dict:
    print("quick default comparisons (about 4 minutes on 2 CPU cores) …", file=sys.stderr)
    return {"transfer_experiments": transfer.experiments(targets[-1])}


def _features(targets: list[torch.device]) -> dict:
    print("feature extraction: 5-fold SVM on cached features, extractor throughput …", file=sys.stderr)
    return {"features": features.run(targets)}


def _prepare(targets: list[torch.device]) -> dict:
    print("make prepare from an empty runs folder (about 14 minutes on 2 CPU cores), then each page in Chromium …",
          file=sys.stderr)
    found = prepare.run()
    prepare.reference(found)  # the next preparation's time left starts from these
    return {"prepare": found}


def _seeds(targets: list[torch.device]) -> dict:
    print("Repeat ×3 through the queue against three single runs (about 5 minutes on 2 CPU cores) …", file=sys.stderr)
    return {"seeds": seeds.run()}


def _talk(targets: list[torch.device]) -> dict:
    print("the talk export from the prepared runs, first and from cache (about 2 minutes on 2 CPU cores) …",
          file=sys.stderr)
    return {"talk": talk.run()}


def _imported(targets: list[torch.device]) -> dict:
    print("an imported ONNX model against torch eager (about a minute) …", file=sys.stderr)
    return {"imported": [row for device in targets for row in imported.run(device)]}


SECTIONS = {"inference": _inference, "evaluation": _evaluation, "training": _training, "experiments": _experiments,
            "detection": _detection, "features": _features,
            "prepare": _prepare, "seeds": _seeds, "talk": _talk, "imported": _imported}


def main(argv: list[str] | None = None) -> int:
    """All sections, or those named (python -m bench training): the others keep their last results."""
    names = (argv if argv is not None else sys.argv[1:]) or list(SECTIONS)
    unknown = [n for n in names if n not in SECTIONS]
    if unknown:
        print(f"error: unknown section {unknown[0]!r}; choose from {list(SECTIONS)}", file=sys.stderr)
        return 2
    targets = [torch.device("cpu")] + ([torch.device("cuda")] if torch.cuda.is_available() else [])
    path = OUT / "results.json"
    results = json.loads(path.read_text()) if path.is_file() and len(names) < len(SECTIONS) else {}
    for name in names:
        results |= SECTIONS[name](targets)
    results["machine"] = machine()
    path.write_text(json.dumps(results, indent=1) + "\n")
    (OUT / "RESULTS.md").write_text(markdown(results))
    print(markdown(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
