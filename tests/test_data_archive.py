import io
import zipfile

import pytest

from core.data import archive, catalogue
from core.data.types import DataError
from tests import data_fixtures as fx


def files_under(path):
    return sorted(p.relative_to(path).as_posix() for p in path.rglob("*") if p.is_file())


def test_hostile_members_are_skipped_and_nothing_lands_outside(tmp_path):
    zipped = fx.zip_of(fx.yolo(tmp_path / "src"), extra={"../../escape.txt": b"x", "/etc/cron.d/evil": b"x"},
                       symlink="mydata/link")
    dest = tmp_path / "user_data"
    result = archive.extract_zip(zipped, dest, "my data.zip")
    assert result.folder.parent == dest and result.root == result.folder / "mydata"
    reasons = {p.file: p.message for p in result.problems}
    assert reasons["../../escape.txt"] == "skipped: path leaves the archive ('..')"
    assert reasons["/etc/cron.d/evil"] == "skipped: absolute path"
    assert reasons["mydata/link"] == "skipped: symbolic link"
    assert files_under(tmp_path) == sorted(["user_data/my_data/" + f for f in files_under(result.folder)] +
                                           ["src/" + f for f in files_under(tmp_path / "src")])
    assert catalogue.detect_format(result.root)[0] == "yolo"


def test_a_zip_bomb_member_is_refused(tmp_path):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("data/zeros.bin", b"\0" * (30 << 20))
        z.writestr("data/ok.txt", b"fine")
    result = archive.extract_zip(buf.getvalue(), tmp_path / "u", "bomb.zip")
    assert "a zip bomb?" in result.problems[0].message and files_under(result.folder) == ["data/ok.txt"]


def test_a_hundred_thousand_tiny_files_are_capped(tmp_path, monkeypatch):
    monkeypatch.setattr(archive, "MAX_FILES", 500)  # the cap itself; the archive keeps its real 100,000 entries
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as z:
        for i in range(100_000):
            z.writestr(f"many/{i:06d}.txt", b"")
    result = archive.extract_zip(buf.getvalue(), tmp_path / "u", "many.zip")
    assert result.files == 500 and len(files_under(result.folder)) == 500
    assert "holds 100000 entries; only the first 500 files were extracted" in result.problems[-1].message


def test_not_a_zip_and_an_empty_zip_are_clear_errors(tmp_path):
    with pytest.raises(DataError, match="not a readable zip archive"):
        archive.extract_zip(b"PK but not really", tmp_path / "u", "fake.zip")
    buf = io.BytesIO()
    zipfile.ZipFile(buf, "w").close()
    with pytest.raises(DataError, match="holds no files"):
        archive.extract_zip(buf.getvalue(), tmp_path / "u", "empty.zip")
    assert not any((tmp_path / "u").iterdir()), "a refused archive leaves nothing behind"


def test_an_extracted_dataset_appears_in_the_catalogue(tmp_path, monkeypatch):
    monkeypatch.setenv(catalogue.USER_DIR_ENV, str(tmp_path / "user_data"))
    archive.extract_zip(fx.zip_of(fx.utkface(tmp_path / "src")), tmp_path / "user_data", "faces.zip")
    entry = catalogue.entries()["user/faces"]
    assert entry.task == "regression"
    assert sorted(catalogue.load("user/faces").targets.tolist()) == [7.0, 25.0, 61.0]
