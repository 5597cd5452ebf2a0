"""The tasks models are compared on: what a variant predicts, the metrics its outputs get, how a file of them is
scored. One entry each, and nothing else lists them.

The registry checks a variant's task here; the Score page and `python -m core.metrics` take their upload formats
and report columns from here. A study (core/studies) names the task it compares variants on; the studies
themselves are listed in core.studies.index."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Task:
    name: str
    title: str
    metrics: tuple[str, ...]  # keys of each variant's metrics in its Comparison, the headline first
    default_dataset: str
    scoring: str  # the metric family its outputs are scored with: detection, classification, verification, regression
    predictor: str = ""  # how one of its variants runs on an image: classifier, regressor, face_detector; "" if none
    score_format: str = ""  # what the Score page takes: "COCO json" or "CSV"
    score_columns: str = ""

    @property
    def headline(self) -> str:
        return self.metrics[0]


TASKS: dict[str, Task] = {t.name: t for t in [
    Task("classification", "Image classification",
         ("mCA", "mF1", "mPrecision", "mRecall", "accuracy", "train_seconds", "trainable_params"),
         "fashion_mnist_imbalanced3", "classification",
         predictor="classifier", score_format="CSV",
         score_columns="true, pred (class names or ids); optional pred_b for a second variant"),
    Task("regression", "Image regression", ("pearson", "spearman", "MAE", "train_seconds", "trainable_params"),
         "cartoon_faces/fatness", "regression",
         predictor="regressor", score_format="CSV", score_columns="true, pred; optional pred_b for a second variant"),
    Task("face_detection", "Face detection",
         ("AP", "AP_VOC", "best_F1", "best_F1_threshold", "ms_per_image", "real_photo_recall", "lfw_patch_AUC"),
         "cartoon_faces/detection", "detection",
         predictor="face_detector", score_format="COCO json",
         score_columns="ground truth (images, annotations, categories) and a result list "
                       "(image_id, category_id, bbox as x y w h, score)"),
    Task("face_verification", "Face verification",
         ("AUC", "EER", "TAR@FAR=0.001", "TAR@FAR=0.01", "best_accuracy", "EER_distance", "ms_per_image", "no_face"),
         "cartoon_faces/verification", "verification",
         predictor="embedder", score_format="CSV",
         score_columns="label (1 same, 0 different) and score (higher = same) or distance; optional score_b / distance_b"),
    Task("object_detection", "Object detection (YOLO)",
         ("AP50", "AP50-95", "P", "R", "F1", "ultralytics_AP50", "ultralytics_AP50-95", "ultralytics_P", "ultralytics_R",
          "val_AP50", "epoch",
          "ms_per_image", "train_images_per_s"),
         "cartoon_faces/detection", "detection",
         predictor="yolo_detector"),
    Task("feature_extraction", "Feature extraction",
         ("balanced_accuracy", "balanced_accuracy_std", "n_features", "fit_seconds"),
         "cartoon_faces/glasses", "classification"),
]}


# What a metric key is called on screen and on slides; the keys stay in exports, the JSON and the CLI.
LABELS: dict[str, str] = {
    "mCA": "mean class accuracy", "mF1": "macro F1", "mPrecision": "macro precision", "mRecall": "macro recall",
    "train_seconds": "training time (s)", "trainable_params": "trainable parameters",
    "pearson": "Pearson r", "spearman": "Spearman ρ", "MAE": "mean abs. error",
    "AP_VOC": "AP (VOC, all points)", "best_F1": "best F1", "best_F1_threshold": "threshold at best F1",
    "ms_per_image": "ms per image", "real_photo_recall": "recall on real photos", "lfw_patch_AUC": "AUC on LFW patches",
    "best_accuracy": "best accuracy", "EER_distance": "distance at EER", "no_face": "no face found",
    "ultralytics_AP50": "AP50 (ultralytics)", "ultralytics_AP50-95": "AP50-95 (ultralytics)",
    "ultralytics_P": "P (ultralytics)", "ultralytics_R": "R (ultralytics)", "val_AP50": "validation AP50",
    "train_images_per_s": "training images/s", "balanced_accuracy": "balanced accuracy",
    "balanced_accuracy_std": "balanced accuracy, sd over folds", "n_features": "features", "fit_seconds": "fit time (s)",
    "mean_class_accuracy": "mean class accuracy", "macro_f1": "macro F1",
}


def label(metric: str) -> str:
    """A metric as people read it: "mean class accuracy" for mCA, "Pearson r" for pearson; unknown keys with spaces
    for underscores."""
    if metric.startswith("acc/"):  # per-class accuracy
        return f"accuracy: {metric.removeprefix('acc/')}"
    return LABELS.get(metric, metric.replace("_", " "))


def get(name: str) -> Task:
    if name not in TASKS:
        raise KeyError(f"unknown task {name!r}; choose from {sorted(TASKS)}")
    return TASKS[name]


def scored() -> list[Task]:
    """Tasks whose outputs the Score page and `python -m core.metrics` can score from a file (by their family's
    report: core.metrics.reports.for_family)."""
    return [t for t in TASKS.values() if t.score_format]


def by_scoring(family: str) -> Task:
    found = [t for t in scored() if t.scoring == family]
    if not found:
        raise KeyError(f"no task is scored as {family!r}; choose from {sorted({t.scoring for t in scored()})}")
    return found[0]
