"""Sample photos that installed packages ship: a gallery that works offline."""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

from core.images import LoadedImage, load_path


@dataclass(frozen=True)
class Sample:
    name: str
    package: str
    path: str  # inside the package
    credit: str
    shows: str
    people: bool = False  # real human faces or people in view


SAMPLES: dict[str, Sample] = {
    s.name: s
    for s in [
        Sample("astronaut", "skimage", "data/astronaut.png", "NASA, public domain (scikit-image)", "one face", people=True),
        Sample("grace_hopper", "matplotlib", "mpl-data/sample_data/grace_hopper.jpg",
               "US Navy, public domain (matplotlib)", "one face", people=True),
        Sample("zidane", "ultralytics", "assets/zidane.jpg", "ultralytics sample (AGPL-3.0)", "two people, faces", people=True),
        Sample("bus", "ultralytics", "assets/bus.jpg", "ultralytics sample (AGPL-3.0)", "street, bus, people", people=True),
        Sample("coffee", "skimage", "data/coffee.png", "Rachel Michetti, CC0 (scikit-image)", "a cup of coffee"),
        Sample("chelsea", "skimage", "data/chelsea.png", "Stefan van der Walt, CC0 (scikit-image)", "a cat"),
        Sample("motorcycle", "skimage", "data/motorcycle_left.png", "Middlebury stereo set (scikit-image)",
               "a motorcycle"),
        Sample("rocket", "skimage", "data/rocket.jpg", "SpaceX, CC0 (scikit-image)", "a rocket launch"),
        Sample("camera", "skimage", "data/camera.png", "scikit-image, CC0", "a cameraman, grayscale", people=True),
        Sample("china", "sklearn", "datasets/images/china.jpg", "scikit-learn sample (CC BY 2.0)", "a temple"),
        Sample("flower", "sklearn", "datasets/images/flower.jpg", "scikit-learn sample (CC BY 2.0)", "a flower"),
    ]
}


def sample_path(name: str) -> Path | None:
    if name not in SAMPLES:
        raise KeyError(f"unknown sample {name!r}; choose from {sorted(SAMPLES)}")
    s = SAMPLES[name]
    spec = importlib.util.find_spec(s.package)
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(list(spec.submodule_search_locations)[0]) / s.path
    return path if path.is_file() else None


def available() -> list[str]:
    """Names of the samples whose package is installed here."""
    return [name for name in SAMPLES if sample_path(name) is not None]


def load_sample(name: str) -> LoadedImage:
    path = sample_path(name)
    if path is None:
        raise FileNotFoundError(f"sample {name!r} comes with the package {SAMPLES[name].package!r}, not installed")
    return load_path(path)
