import numpy as np
import pytest

from core.data import catalogue, formats
from core.data.types import DataError
from tests import data_fixtures as fx


def problems_text(ds) -> str:
    return "\n".join(str(p) for p in ds.problems)


def test_yolo_formula_puts_the_half_size_inside_the_bracket():
    assert formats.yolo_to_pixels(0.5, 0.5, 0.2, 0.4, 100, 50) == pytest.approx((40, 15, 60, 35))


def test_image_folder_with_splits_skips_an_unreadable_file(tmp_path):
    ds = formats.image_folder(fx.image_folder(tmp_path / "f"))
    assert ds.classes == ["cat", "dog"] and ds.counts() == {"train": 2, "test": 1}
    assert "train/dog/notes.jpg: unreadable image" in problems_text(ds)


def test_yolo_reports_each_bad_line_and_keeps_the_good_boxes(tmp_path):
    ds = formats.yolo(fx.yolo(tmp_path / "y"))
    assert ds.classes == ["car", "person"] and ds.counts() == {"train": 2, "val": 1}
    a = next(s for s in ds.samples if s.image.name == "a.jpg")
    np.testing.assert_allclose(a.boxes, [[40, 15, 60, 35], [20, 7.5, 30, 17.5]])
    assert a.labels.tolist() == [0, 1]
    text = problems_text(ds)
    for expected in ("labels/train/a.txt:2: coordinates outside [0, 1]", "labels/train/a.txt:3: unknown class id 7",
                     "labels/train/a.txt:4: expected 5 fields", "labels/train/b.txt:1: not numbers"):
        assert expected in text
    assert next(s for s in ds.samples if s.image.name == "c.jpg").boxes.shape == (0, 4)


def test_crop_cutter_cuts_each_box_to_a_square(tmp_path):
    crops = formats.crops(formats.yolo(fx.yolo(tmp_path / "y")), size=32)
    assert len(crops.images) == 2 and crops.images[0].shape == (32, 32, 3)
    assert crops.targets.tolist() == [0, 1] and crops.classes == ["car", "person"]


def test_coco_adapter_reports_unknown_ids_sizes_and_missing_images(tmp_path):
    ds = formats.coco(fx.coco(tmp_path / "c") / "instances.json")
    assert len(ds.samples) == 1 and ds.classes == ["face"]
    np.testing.assert_allclose(ds.samples[0].boxes, [[10, 10, 30, 30]])
    text = problems_text(ds)
    for expected in ("unknown image id 9", "unknown category id 6", "zero or negative size", "gone.jpg: image file is "
                     "missing", "broken.jpg: unreadable image"):
        assert expected in text


def test_box_list_adapter(tmp_path):
    ds = formats.box_list(fx.box_list(tmp_path / "b") / "boxes.txt")
    assert ds.classes == ["dexter", "dee_dee"] and len(ds.samples) == 1
    assert ds.samples[0].labels.tolist() == [0, 1]
    text = problems_text(ds)
    assert "boxes.txt:3: box has x2 <= x1" in text and "boxes.txt:4: expected 6 fields" in text
    assert "missing.png: image file is missing" in text


def test_wider_face_adapter_skips_invalid_faces_and_reads_empty_images(tmp_path):
    root = fx.wider_face(tmp_path / "w")
    ds = formats.wider_face(root / "wider_face_val_bbx_gt.txt", root / "images", split="val")
    boxes = {s.image.name: s.boxes for s in ds.samples}
    np.testing.assert_allclose(boxes["a.jpg"], [[10, 20, 40, 60]])
    assert boxes["b.jpg"].shape == (0, 4) and ds.classes == ["face"]


def test_utkface_ages_from_names(tmp_path):
    ds = formats.utkface(fx.utkface(tmp_path / "u"))
    assert sorted(ds.targets.tolist()) == [7.0, 25.0, 61.0] and ds.task == "regression"
    assert "out of range" in problems_text(ds)


def test_lfw_pairs_folder(tmp_path):
    ds = formats.lfw_pairs(fx.lfw(tmp_path / "l"))
    assert [(p.a.name, p.b.name, p.same) for p in ds.pairs] == [
        ("Ada_Lovelace_0001.jpg", "Ada_Lovelace_0002.jpg", True),
        ("Ada_Lovelace_0001.jpg", "Alan_Turing_0001.jpg", False)]
    text = problems_text(ds)
    assert "pairs.txt:4: Alan_Turing has one image, and a same-person pair needs two" in text
    assert "pairs.txt:5: expected 3 or 4 fields" in text
    assert "pairs.txt:6: duplicate of line 2" in text and "pairs.txt:7: pairs Ada_Lovelace_0001.jpg with itself" in text
    assert "pairs.txt:8: image not found for Grace_Hopper 1" in text


@pytest.mark.parametrize("make, fmt", [(fx.image_folder, "image_folder"), (fx.yolo, "yolo"), (fx.coco, "coco"),
                                       (fx.box_list, "box_list"), (fx.wider_face, "wider_face"),
                                       (fx.utkface, "utkface"), (fx.lfw, "lfw")])
def test_describe_recognises_each_format(tmp_path, make, fmt):
    info = catalogue.describe(make(tmp_path / fmt))
    assert info["format"] == fmt and info["task"] in {"classification", "detection", "regression", "verification"}


def test_unrecognised_or_empty_folders_say_what_was_expected(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="format not recognised"):
        catalogue.describe(tmp_path / "empty")
    with pytest.raises(DataError, match="does not exist"):
        catalogue.describe(tmp_path / "nope")


def test_data_cli_lists_and_describes(tmp_path, capsys):
    from core.data.__main__ import main

    assert main([]) == 0
    listed = capsys.readouterr().out
    assert "cartoon_faces/detection" in listed and "fashion_mnist_imbalanced3" in listed
    assert main(["describe", str(fx.yolo(tmp_path / "y"))]) == 0
    printed = capsys.readouterr().out
    assert '"format": "yolo"' in printed and "unknown class id 7" in printed
    assert main(["describe", str(tmp_path / "nope")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_torchvision_lfw_offline_says_what_to_do(tmp_path):
    with pytest.raises(DataError, match="download it with a network, or point the LFW adapter at a folder"):
        formats.lfw_torchvision(tmp_path / "lfw", download=False)
