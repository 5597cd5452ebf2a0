"""Safe extraction of a dataset zip into the user data folder.

Nothing is written outside the destination: absolute paths, '..' parts and symbolic links are
skipped and reported; sizes are counted while reading, not trusted from the headers; limits on
file count, bytes and compression ratio stop zip bombs. The rest is extracted and usable.
"""

from __future__ import annotations

import io
import re
import shutil
import stat
import uuid
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from core.data.types import DataError, Problem

MAX_FILES = 20_000
MAX_TOTAL_BYTES = 1 << 30
MAX_MEMBER_BYTES = 100 << 20
MAX_RATIO = 200
CHUNK = 1 << 20
SKIPPED_PREFIXES = ("__MACOSX/",)


@dataclass(frozen=True)
class Extracted:
    folder: Path  # the new folder in the user data folder
    root: Path  # the dataset inside it (the archive's wrapper folder, if it had one)
    files: int
    bytes: int
    problems: list[Problem] = field(default_factory=list)


def safe_name(raw: str) -> str:
    name = re.sub(r"[^A-Za-z0-9_-]+", "_", Path(raw).stem).strip("_")[:60]
    return name or "dataset"


def _member_path(info: zipfile.ZipInfo) -> PurePosixPath | str:
    """The member's relative path, or the reason it is refused."""
    raw = info.filename.replace("\\", "/")
    if raw.startswith("/") or re.match(r"^[A-Za-z]:", raw):
        return "absolute path"
    parts = PurePosixPath(raw).parts
    if ".." in parts:
        return "path leaves the archive ('..')"
    if stat.S_ISLNK(info.external_attr >> 16):
        return "symbolic link"
    kind = stat.S_IFMT(info.external_attr >> 16)
    if kind and kind not in (stat.S_IFREG, stat.S_IFDIR):
        return "not a regular file"
    return PurePosixPath(*[p for p in parts if p not in ("", ".")])


def extract_zip(source: bytes | Path, dest_root: Path, name: str) -> Extracted:
    """Extract a zip into dest_root/NAME (a free name); DataError when it is no zip or holds nothing usable."""
    dest_root = Path(dest_root)
    try:
        archive = zipfile.ZipFile(io.BytesIO(source) if isinstance(source, bytes) else source)
    except (zipfile.BadZipFile, OSError) as exc:
        raise DataError(f"{name} is not a readable zip archive ({exc})") from None
    dest_root.mkdir(parents=True, exist_ok=True)
    staging = dest_root / f".incoming-{uuid.uuid4().hex[:8]}"
    staging.mkdir()
    problems: list[Problem] = []
    files = total = 0
    try:
        with archive:
            members = archive.infolist()
            for info in members:
                if info.filename.startswith(SKIPPED_PREFIXES) or info.is_dir():
                    continue
                rel = _member_path(info)
                if isinstance(rel, str):
                    problems.append(Problem(info.filename, None, f"skipped: {rel}"))
                    continue
                if files >= MAX_FILES:
                    problems.append(Problem(name, None, f"the archive holds {len(members)} entries; only the first "
                                                        f"{MAX_FILES} files were extracted"))
                    break
                if info.file_size > MAX_MEMBER_BYTES:
                    problems.append(Problem(info.filename, None, f"skipped: {info.file_size / 2**20:.0f} MB, over the "
                                                                 f"{MAX_MEMBER_BYTES >> 20} MB limit per file"))
                    continue
                if info.compress_size and info.file_size / info.compress_size > MAX_RATIO:
                    ratio = info.file_size // info.compress_size
                    problems.append(Problem(info.filename, None, f"skipped: compressed {ratio}:1 (a zip bomb?)"))
                    continue
                target = staging / rel
                if not target.resolve().is_relative_to(staging.resolve()):
                    problems.append(Problem(info.filename, None, "skipped: path leaves the archive"))
                    continue
                written = _copy_member(archive, info, target, MAX_TOTAL_BYTES - total)
                if written is None:
                    problems.append(Problem(info.filename, None, f"stopped: the archive expands past "
                                                                 f"{MAX_TOTAL_BYTES >> 30} GB"))
                    break
                files += 1
                total += written
        if files == 0:
            raise DataError(f"{name} holds no files that could be extracted safely"
                            + (f" ({problems[0].message})" if problems else ""))
        folder = dest_root / _free_name(dest_root, safe_name(name))
        staging.rename(folder)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return Extracted(folder, dataset_root(folder), files, total, problems)


def _copy_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, target: Path, budget: int) -> int | None:
    """Stream one member to disk, counting real bytes; None (and nothing left behind) past the budget."""
    target.parent.mkdir(parents=True, exist_ok=True)
    written = 0
    with archive.open(info) as src, open(target, "wb") as dst:
        while block := src.read(CHUNK):
            written += len(block)
            if written > budget or written > MAX_MEMBER_BYTES:
                dst.close()
                target.unlink()
                return None
            dst.write(block)
    return written


def _free_name(root: Path, base: str) -> str:
    name, n = base, 2
    while (root / name).exists():
        name, n = f"{base}-{n}", n + 1
    return name


def dataset_root(folder: Path) -> Path:
    """A zip of one wrapper folder gives that folder as the dataset root."""
    entries = [p for p in folder.iterdir() if not p.name.startswith(".")]
    if len(entries) == 1 and entries[0].is_dir():
        return entries[0]
    return folder
