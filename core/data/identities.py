"""Face images labelled by person, and the pairs made from them.

Verification trains on people and is scored on pairs of images of other people. This module turns
a pairs set (LFW layout: root/PERSON/PERSON_0001.jpg) into the images of its people, cuts a set of
identity folders into identity-disjoint splits, and makes balanced, seeded pairs for a split.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from pathlib import Path

import numpy as np

from core.data import formats
from core.data.types import DataError, LabelledImages, Pair, Problem, VerificationSet

SPLIT_SHARES = (("train", 0.7), ("val", 0.15), ("test", 0.15))
MAX_SAME_PER_PERSON = 15  # a person with many images would otherwise fill the same-person pairs


def person_of(path: object) -> str:
    """The identity of an image in LFW layout: its folder's name."""
    return Path(str(path)).parent.name


def of_pairs(pairs: VerificationSet) -> LabelledImages:
    """Every image in the folders of the people a pairs set names; a person's split is that of their first pair."""
    split_of: dict[str, str] = {}
    folders: dict[str, Path] = {}
    for p in pairs.pairs:
        for path in (p.a, p.b):
            split_of.setdefault(person_of(path), p.split)
            folders.setdefault(person_of(path), Path(path).parent)
    people = sorted(folders)
    images, targets, splits = [], [], []
    for k, person in enumerate(people):
        for path in formats.images_under(folders[person]):
            images.append(path)
            targets.append(k)
            splits.append(split_of[person])
    return LabelledImages(pairs.name, images, np.array(targets, int), np.array(splits), people, source=pairs.source,
                          licence=pairs.licence, problems=list(pairs.problems), target_name="identity")


def disjoint_splits(data: LabelledImages, seed: int = 0) -> LabelledImages:
    """The same images with train / val / test cut by person (70 / 15 / 15, seeded), unless the set has splits."""
    if set(data.split) - {"all"}:
        return data
    rng = np.random.default_rng(seed)
    people = rng.permutation(len(data.classes or []))
    cuts = np.cumsum([round(share * len(people)) for _, share in SPLIT_SHARES])[:-1]
    split_of = np.empty(len(people), dtype=object)
    for (name, _), group in zip(SPLIT_SHARES, np.split(people, cuts), strict=True):
        split_of[group] = name
    return LabelledImages(data.name, data.images, data.targets, split_of[data.targets].astype(str), data.classes,
                          source=data.source, licence=data.licence, problems=data.problems, target_name="identity")


def make_pairs(data: LabelledImages, split: str, seed: int = 0) -> VerificationSet:
    """Balanced pairs of one split: every same-person pair (up to MAX_SAME_PER_PERSON a person, seeded), and as
    many different-person pairs drawn at random without repeats. People with one image are reported."""
    rng = np.random.default_rng(seed)
    idx = np.flatnonzero(data.split == split)
    by_person: dict[int, list[int]] = defaultdict(list)
    for i in idx:
        by_person[int(data.targets[i])].append(int(i))
    names = data.classes or []
    problems = [Problem(names[p], None, "has one image, so it is only in different-person pairs")
                for p, images in sorted(by_person.items()) if len(images) == 1]
    same = []
    for images in by_person.values():
        combos = list(itertools.combinations(images, 2))
        keep = rng.permutation(len(combos))[:MAX_SAME_PER_PERSON]
        same += [combos[k] for k in sorted(keep)]
    different: set[tuple[int, int]] = set()
    possible = len(idx) * (len(idx) - 1) // 2 - sum(len(v) * (len(v) - 1) // 2 for v in by_person.values())
    want = min(len(same), possible)
    while len(different) < want:
        a, b = (int(v) for v in rng.choice(idx, 2, replace=False))
        if data.targets[a] != data.targets[b]:
            different.add((min(a, b), max(a, b)))
    pairs = [Pair(data.images[a], data.images[b], True, split) for a, b in same]
    pairs += [Pair(data.images[a], data.images[b], False, split) for a, b in sorted(different)]
    if not pairs:
        raise DataError(f"{data.name}: the {split} split has no pairs to make (it needs two people, or one "
                                "person with two images)")
    return VerificationSet(f"{data.name}/{split}", pairs, source=data.source, licence=data.licence, problems=problems)
