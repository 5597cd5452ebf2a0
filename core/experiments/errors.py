"""What did a classifier get wrong: its test errors (true → predicted, with the confidence), filtered by a
confusion-matrix cell, and what fine-tuning fixed or broke between two variants on the same test images.

Works on a classification Comparison's extra["predictions"]: per variant, the dataset index, true class,
predicted class and the predicted class's probability of every test image, in one order for all variants."""

from __future__ import annotations

import numpy as np
import pandas as pd

COLUMNS = ["index", "true", "predicted", "confidence"]


def frame(predictions: dict, classes: list[str]) -> pd.DataFrame:
    """One variant's test outputs as rows: dataset index, true and predicted class names, confidence."""
    return pd.DataFrame({"index": np.asarray(predictions["index"], int),
                         "true": [classes[i] for i in predictions["true"]],
                         "predicted": [classes[i] for i in predictions["pred"]],
                         "confidence": np.asarray(predictions["conf"], float)}, columns=COLUMNS)


def mistakes(predictions: dict, classes: list[str], true: str | None = None, predicted: str | None = None
             ) -> pd.DataFrame:
    """The wrong predictions, most confident first; only those of one confusion cell when true and predicted are
    given (either alone filters on that side)."""
    rows = frame(predictions, classes)
    rows = rows[rows["true"] != rows["predicted"]]
    if true is not None:
        rows = rows[rows["true"] == true]
    if predicted is not None:
        rows = rows[rows["predicted"] == predicted]
    return rows.sort_values("confidence", ascending=False, kind="stable").reset_index(drop=True)


def changed(before: dict, after: dict, classes: list[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(fixed, broken) going from `before` to `after` on the same test images: fixed = wrong before and right
    after; broken = right before and wrong after. Rows are `after`'s outputs, with the class `before` predicted."""
    if not np.array_equal(before["index"], after["index"]):
        raise ValueError("the two variants were scored on different test images")
    old, new = frame(before, classes), frame(after, classes)
    right_before, right_after = old["true"] == old["predicted"], new["true"] == new["predicted"]
    new = new.assign(before=old["predicted"])
    return (new[~right_before & right_after].reset_index(drop=True),
            new[right_before & ~right_after].reset_index(drop=True))
