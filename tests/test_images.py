import io

import numpy as np
import pytest
from PIL import Image

from core.data import samples
from core.images import MODEL_MAX_SIDE, ImageRejected, load_image, load_path
from tests.bad_files import BAD_UPLOADS, jpeg_bytes, png_bytes


@pytest.mark.parametrize("name", sorted(BAD_UPLOADS))
def test_bad_upload_is_refused_with_its_reason(name):
    make, expected = BAD_UPLOADS[name]
    with pytest.raises(ImageRejected) as info:
        load_image(make(), name)
    message = str(info.value)
    assert name in message and expected in message


def test_good_jpeg_loads_as_rgb():
    loaded = load_image(jpeg_bytes(), "a.jpg")
    assert loaded.image.mode == "RGB" and loaded.image.size == (512, 512) and loaded.notes == []


def test_exif_orientation_is_applied():
    arr = np.zeros((40, 100, 3), np.uint8)
    arr[:, :10] = 255  # a white band on the left edge
    exif = Image.Exif()
    exif[0x0112] = 6  # stored rotated: display needs a 90° clockwise turn
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, "JPEG", exif=exif, quality=95)
    loaded = load_image(buf.getvalue(), "phone.jpg")
    assert loaded.image.size == (40, 100)
    top = np.asarray(loaded.image)[:10].mean()
    assert top > 200, "the white band should now run along the top edge"
    assert any("EXIF" in n for n in loaded.notes)


def test_sixteen_bit_grayscale_is_scaled_to_eight_bit():
    arr = np.array([[0, 65535], [32896, 257]], dtype=np.uint16)
    loaded = load_image(png_bytes(arr), "depth.png")
    assert loaded.image.mode == "RGB"
    assert np.asarray(loaded.image)[..., 0].tolist() == [[0, 255], [128, 1]]


def test_rgba_is_composited_on_white():
    arr = np.zeros((4, 4, 4), np.uint8)
    arr[..., 0] = 255  # red, fully transparent except the first pixel
    arr[0, 0, 3] = 255
    rgb = np.asarray(load_image(png_bytes(arr, "RGBA"), "logo.png").image)
    assert rgb[0, 0].tolist() == [255, 0, 0]
    assert rgb[1, 1].tolist() == [255, 255, 255]


def test_palette_and_grayscale_become_rgb():
    pal = Image.fromarray(np.arange(16, dtype=np.uint8).reshape(4, 4)).convert("P")
    buf = io.BytesIO()
    pal.save(buf, "GIF")
    assert load_image(buf.getvalue(), "anim.gif").image.mode == "RGB"
    gray = load_image(png_bytes(np.full((5, 5), 77, np.uint8)), "g.png")
    assert gray.image.mode == "RGB" and np.asarray(gray.image)[0, 0].tolist() == [77, 77, 77]


def test_large_photo_is_accepted_and_downscaled():
    buf = io.BytesIO()
    Image.new("RGB", (8000, 6000), (10, 20, 30)).save(buf, "JPEG", quality=50)
    loaded = load_image(buf.getvalue(), "big.jpg")
    assert loaded.original_size == (8000, 6000)
    assert max(loaded.image.size) == MODEL_MAX_SIDE
    assert any("downscaled" in n for n in loaded.notes)


def test_every_sample_photo_loads():
    names = samples.available()
    assert {"astronaut", "coffee", "bus", "zidane", "grace_hopper"} <= set(names)
    for name in names:
        assert samples.load_sample(name).image.mode == "RGB"


def test_missing_path_is_a_clear_refusal(tmp_path):
    with pytest.raises(ImageRejected, match="cannot be read"):
        load_path(tmp_path / "nope.png")
