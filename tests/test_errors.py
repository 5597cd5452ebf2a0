"""Test errors, a confusion cell's errors, and what fine-tuning fixed or broke (core.experiments.errors)."""

import pytest

from core.experiments import errors

CLASSES = ["car", "person", "cyclist"]
# six test images, dataset positions 10..15; true classes 0 0 1 1 2 2
BEFORE = {"index": [10, 11, 12, 13, 14, 15], "true": [0, 0, 1, 1, 2, 2], "pred": [0, 1, 1, 0, 1, 1],
          "conf": [0.9, 0.6, 0.8, 0.7, 0.55, 0.95]}
AFTER = {"index": [10, 11, 12, 13, 14, 15], "true": [0, 0, 1, 1, 2, 2], "pred": [1, 0, 1, 0, 2, 1],
         "conf": [0.51, 0.9, 0.9, 0.6, 0.8, 0.7]}


def test_mistakes_are_the_wrong_ones_most_confident_first():
    rows = errors.mistakes(BEFORE, CLASSES)
    assert list(rows["index"]) == [15, 13, 11, 14]
    assert list(rows.iloc[0][["true", "predicted"]]) == ["cyclist", "person"]


def test_a_confusion_cell_filters_the_mistakes():
    assert list(errors.mistakes(BEFORE, CLASSES, true="cyclist", predicted="person")["index"]) == [15, 14]
    assert list(errors.mistakes(BEFORE, CLASSES, predicted="person")["index"]) == [15, 11, 14]
    assert errors.mistakes(BEFORE, CLASSES, true="car", predicted="cyclist").empty


def test_fixed_and_broken_between_two_variants():
    fixed, broken = errors.changed(BEFORE, AFTER, CLASSES)
    assert list(fixed["index"]) == [11, 14] and list(fixed["before"]) == ["person", "person"]
    assert list(broken["index"]) == [10] and broken.iloc[0]["predicted"] == "person"
    with pytest.raises(ValueError, match="different test images"):
        errors.changed(BEFORE, AFTER | {"index": [1, 2, 3, 4, 5, 6]}, CLASSES)
