"""Your model through ONNX Runtime against the same model in torch eager mode: MobileNetV2 with this project's
linear head (3 classes, as the classification page's runs), exported by torch.onnx, on the same random batches,
interleaved, medians; ms per image at batch 1 and 16, on the CPU (all its threads) and on CUDA when there is one."""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from pathlib import Path

import torch

from core.models import backbones, imported

SIZE = 224
BATCHES = (1, 16)


def _time(call, x: torch.Tensor, repeats: int) -> list[float]:
    out = []
    for _ in range(repeats):
        start = time.perf_counter()
        call(x)
        out.append((time.perf_counter() - start) * 1000 / len(x))
    return out


def run(device: torch.device, repeats: int = 15) -> list[dict]:
    model, _ = backbones.build("mobilenet_v2", 3, "linear", pretrained=False)
    model.eval()
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-onnx-") as tmp:
        path = Path(tmp) / "model.onnx"
        torch.onnx.export(model, (torch.zeros(1, 3, SIZE, SIZE),), str(path), dynamo=False, input_names=["images"],
                          dynamic_axes={"images": {0: "batch"}})
        ort = imported.OnnxModel(path).to(device)
        eager = model.to(device)
        for batch in BATCHES:
            x = torch.randn(batch, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(batch)).to(device)
            with torch.inference_mode():
                diff = float((ort(x) - eager(x)).abs().max())
                for call in (ort, eager):  # warm-up
                    call(x)
                times: dict[str, list[float]] = {"onnxruntime": [], "torch eager": []}
                for _ in range(repeats):  # interleaved: the machine's load falls on both alike
                    times["onnxruntime"] += _time(ort, x, 1)
                    times["torch eager"] += _time(lambda t: (eager(t), torch.cuda.synchronize() if device.type ==
                                                             "cuda" else None), x, 1)
            med = {k: statistics.median(v) for k, v in times.items()}
            rows.append({"device": device.type, "batch": batch, "image_size": SIZE, "repeats": repeats,
                         "onnxruntime_ms": med["onnxruntime"], "torch_ms": med["torch eager"],
                         "ratio": med["onnxruntime"] / med["torch eager"], "max_abs_difference": diff,
                         "threads": torch.get_num_threads(), "cpus": os.cpu_count(),
                         "providers": ort.session.get_providers()[:1]})
    return rows


def markdown(found: list | None) -> list[str]:
    lines = ["", "## Your model: ONNX Runtime against torch eager", ""]
    if not found:
        return lines + ["Not measured yet: `python -m bench imported`."]
    lines += ["MobileNetV2 with a 3-class linear head at 224 px, exported by torch.onnx and run by ONNX Runtime "
              "(`core.models.imported.OnnxModel`, what an imported .onnx runs on) against the same weights in torch, "
              "on the same batches, interleaved, median ms per image:", "",
              "| device | provider | batch | onnxruntime ms/image | torch eager ms/image | ratio | largest output "
              "difference |", "|---|---|---:|---:|---:|---:|---:|"]
    lines += [f"| {r['device']} | {r['providers'][0]} | {r['batch']} | {r['onnxruntime_ms']:.2f} | {r['torch_ms']:.2f} "
              f"| {r['ratio']:.2f} | {r['max_abs_difference']:.1e} |" for r in found]
    return lines
