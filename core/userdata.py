"""Your own dataset: a folder of pictures (or four arrays) made once into the MNIST family's own files.

``python -m core data add NAME --from FOLDER`` reads ``FOLDER/train/<class>/*`` and
``FOLDER/test/<class>/*``; ``--from arrays.npz`` reads ``x_train, y_train, x_test, y_test`` (and
``class_names`` if there). Every picture is made grayscale at the dataset's size once — a plain resize,
or prepared the MNIST way as the draw page prepares a drawing — and the splits are written as IDX
files under ``<data root>/NAME/raw/``, so they load as fast as MNIST, beside a ``manifest.json``
(source, classes, counts, pixel statistics, the SHA-256 of each file) that becomes the dataset's
record. Nothing is half-written: the folder is built under a temporary name and renamed at the end
(one left by a killed process is removed by a later ``data add`` once it is an hour old).

A picture that can't be used (unreadable, oversized, or blank where pictures are centred the MNIST way;
a plain resize keeps every readable picture) is skipped and counted; a dataset that
can't be made (an empty class, one class, a test class missing from train, a name taken) is one
``DataError`` whose message says what to change.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import shutil
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from core.config import PLAIN_NAME, PLAIN_NAME_RULE
from core.data import DATASETS, IMAGE_SIZE, DataError, DatasetInfo, IdxFiles, Preparation
from core.storage import UnsafeFile, atomic_write_json, read_regular_file

MANIFEST = "manifest.json"
MANIFEST_FORMAT = 1
BUILDING_PREFIX = ".building-"  # a dataset folder under construction (dot: never listed)
MAX_MANIFEST_BYTES = 1 * 2**20
MAX_CLASSES = 256
MAX_IMAGES = 1_000_000  # 28×28 bytes each: 784 MB in memory at most
# An .npz's images before preparation, all of them together: 1 GB of float32 at most (a few KB of
# compressed zeros can claim more).
MAX_ARRAY_PIXELS = 2**28
MAX_NPZ_BYTES = 2**30
NAME_PATTERN = re.compile(r"[a-z0-9][a-z0-9_-]{0,39}")
PREPARATIONS = {
    # A plain resize keeps what a picture shows (photos, scans already framed like the dataset).
    "resize": Preparation(fit_box=28, centre_by_mass=False, noun="picture", plain_resize=True),
    # MNIST's way: light ink on black, cropped to the ink, fitted to 20×20, centred by mass.
    "mnist": Preparation(fit_box=20, centre_by_mass=True, noun="picture"),
}
SPLIT_FOLDERS = ("train", "test")


@dataclass
class AddResult:
    info: DatasetInfo
    folder: Path
    counts: dict[str, list[int]]  # per split, the number of images of each class
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (file, why) for pictures left out


# --- reading the record ----------------------------------------------------------------------------

_RECORDS: dict[Path, tuple[tuple, DatasetInfo]] = {}


def user_dataset_names(root: Path) -> list[str]:
    """The user's datasets in the data root whose manifest reads, sorted (``unreadable_user_datasets``: the rest)."""
    return [name for name, problem in _user_folders(root) if problem is None]


def unreadable_user_datasets(root: Path) -> list[tuple[str, str]]:
    """(name, why) for each folder of the data root with a manifest that can't be read."""
    return [(name, problem) for name, problem in _user_folders(root) if problem is not None]


def _user_folders(root: Path) -> list[tuple[str, str | None]]:
    try:
        folders = sorted(Path(root).iterdir())
    except OSError:
        return []
    found = []
    for folder in folders:
        if NAME_PATTERN.fullmatch(folder.name) and folder.name not in DATASETS and (folder / MANIFEST).exists():
            try:
                user_dataset_info(folder.name, root)
                found.append((folder.name, None))
            except DataError as error:
                found.append((folder.name, str(error)))
    return found


def user_dataset_info(name: str, root: Path) -> DatasetInfo | None:
    """A user's dataset's record from its manifest; None if there is none; DataError if it is damaged."""
    if not NAME_PATTERN.fullmatch(name) or name in DATASETS:
        return None
    path = Path(root) / name / MANIFEST
    try:
        stat = path.stat()
    except OSError:
        return None
    signature = (stat.st_mtime_ns, stat.st_size, stat.st_ino)
    cached = _RECORDS.get(path)
    if cached and cached[0] == signature:
        return cached[1]
    info = _record_from_manifest(name, _read_manifest(path))
    _RECORDS[path] = (signature, info)
    return info


def _read_manifest(path: Path) -> dict:
    try:
        manifest = json.loads(read_regular_file(path, MAX_MANIFEST_BYTES))
    except (OSError, UnsafeFile, ValueError, RecursionError) as error:
        raise DataError(f"{path} is unreadable ({error}); add the dataset again") from None
    if not isinstance(manifest, dict) or manifest.get("format") != MANIFEST_FORMAT:
        raise DataError(f"{path} is not a dataset manifest of format {MANIFEST_FORMAT}; add the dataset again")
    return manifest


def _record_from_manifest(name: str, manifest: dict) -> DatasetInfo:
    classes, mean, std = manifest.get("classes"), manifest.get("mean"), manifest.get("std")
    preparation = manifest.get("preparation")
    problems = []
    if not (isinstance(classes, list) and 2 <= len(classes) <= MAX_CLASSES and all(_is_class_name(c) for c in classes)):
        problems.append(f"classes must be 2–{MAX_CLASSES} names")
    if not all(isinstance(v, float | int) and 0 < v <= 1 for v in (mean, std)):
        problems.append("mean and std must be numbers in (0, 1]")
    if preparation not in PREPARATIONS:
        problems.append(f"preparation must be one of {', '.join(PREPARATIONS)}")
    if manifest.get("image_size") != list(IMAGE_SIZE):
        problems.append(f"image_size must be {list(IMAGE_SIZE)}")
    if problems:
        raise DataError(f"the manifest of {name} is damaged ({'; '.join(problems)}); add the dataset again")
    title = manifest.get("title")
    if not _is_class_name(title):  # shown on pages as the classes are: plain words only
        title = name
    return DatasetInfo(
        name=name,
        title=title,
        folder=name,
        classes=tuple(classes),
        mean=float(mean),
        std=float(std),
        md5={},
        preparation=PREPARATIONS[preparation],
        sources=(),
        files=IdxFiles(),
        user=True,
    )


def _is_class_name(value) -> bool:
    """Class names are shown on pages: plain words only (as a run's config requires), none acts as markdown."""
    return isinstance(value, str) and 0 < len(value) <= 60 and PLAIN_NAME.fullmatch(value) is not None


# --- making one ------------------------------------------------------------------------------------


def add_dataset(
    name: str, source: Path, root: Path, preparation: str = "resize", title: str | None = None
) -> AddResult:
    """Make ``source`` (a folder of class folders, or an .npz of arrays) the dataset ``name``."""
    destination = Path(root) / name
    _check_name(name, destination)
    if title is not None and not _is_class_name(title):
        raise DataError(f"{title!r} can't be a title: use {PLAIN_NAME_RULE}")
    if preparation not in PREPARATIONS:
        raise DataError(f"unknown preparation {preparation!r}; choose one of: {', '.join(PREPARATIONS)}")
    source = Path(source)
    if source.is_dir():
        splits, classes, skipped = _read_folder(source, PREPARATIONS[preparation])
    elif source.is_file():
        splits, classes, skipped = _read_arrays(source, PREPARATIONS[preparation])
    else:
        raise DataError(f"{source} is neither a folder nor an .npz file")
    counts = {split: np.bincount(labels, minlength=len(classes)).tolist() for split, (_, labels) in splits.items()}
    manifest = _manifest(name, title, source, preparation, classes, splits, counts, skipped)
    _write_atomically(destination, splits, manifest)
    return AddResult(user_dataset_info(name, root), destination, counts, skipped)


def _check_name(name: str, destination: Path) -> None:
    if not NAME_PATTERN.fullmatch(name):
        raise DataError(
            f"{name!r} can't name a dataset: use 1–40 lower-case letters, digits, '-' or '_', "
            "starting with a letter or digit"
        )
    taken = {key for key in DATASETS} | {info.folder.lower() for info in DATASETS.values()}
    if name in taken:
        raise DataError(f"{name!r} is a built-in dataset's name; choose another")
    if destination.exists():
        raise DataError(f"{destination} already exists; choose another name, or delete that folder first")


# FOLDER/<class>/* alone (torchvision's ImageFolder layout): this share of each class becomes the test split.
TEST_SHARE = 0.2


def _read_folder(source: Path, preparation: Preparation):
    """``source/train/<class>/*`` and ``source/test/<class>/*`` → (splits, classes, skipped); or
    ``source/<class>/*`` alone, split per class (``_read_one_folder``)."""
    missing = [split for split in SPLIT_FOLDERS if not (source / split).is_dir()]
    if len(missing) == len(SPLIT_FOLDERS):
        return _read_one_folder(source, preparation)
    if missing:
        raise DataError(
            f"{source} has {SPLIT_FOLDERS[1 - SPLIT_FOLDERS.index(missing[0])]}/ but no {missing[0]}/: give both, "
            "each with one folder per class, or neither (one folder per class, of which a share is kept for testing)"
        )
    class_folders = {split: sorted(p.name for p in (source / split).iterdir() if p.is_dir()) for split in SPLIT_FOLDERS}
    classes = class_folders["train"]
    _check_classes(classes, source / "train")
    strays = [c for c in class_folders["test"] if c not in classes]
    if strays:
        raise DataError(f"test/ has classes that train/ lacks: {', '.join(strays)}; each needs training images")
    skipped: list[tuple[str, str]] = []
    splits = {}
    for split in SPLIT_FOLDERS:
        images, labels = [], []
        for index, class_name in enumerate(classes):
            folder = source / split / class_name
            pictures = _pictures_in(folder, preparation, skipped) if folder.is_dir() else []
            if split == "train" and not pictures:
                raise DataError(f"{folder} holds no usable pictures; every class needs training images")
            images += pictures
            labels += [index] * len(pictures)
            if len(images) > MAX_IMAGES:
                raise DataError(f"{source} holds more than {MAX_IMAGES:,} pictures; the limit is {MAX_IMAGES:,}")
        if not images:
            raise DataError(f"{source / split} holds no usable pictures")
        splits[split] = (np.stack(images), np.asarray(labels, dtype=np.int64))
    return splits, classes, skipped


def _read_one_folder(source: Path, preparation: Preparation):
    """``source/<class>/*``: ``TEST_SHARE`` of each class's pictures (chosen with a fixed seed, at least one
    where a class has two) become the test split, the rest the training split."""
    classes = sorted(path.name for path in source.iterdir() if path.is_dir())
    _check_classes(classes, source)
    skipped: list[tuple[str, str]] = []
    parts = {split: ([], []) for split in SPLIT_FOLDERS}
    generator = np.random.default_rng(0)
    for index, class_name in enumerate(classes):
        pictures = _pictures_in(source / class_name, preparation, skipped)
        if len(pictures) < 2:
            raise DataError(
                f"{source / class_name} holds {len(pictures)} usable pictures; each class needs two or more"
            )
        order = generator.permutation(len(pictures))
        held = max(1, round(TEST_SHARE * len(pictures)))
        for split, rows in (("test", order[:held]), ("train", order[held:])):
            parts[split][0].extend(pictures[row] for row in sorted(rows))
            parts[split][1].extend([index] * len(rows))
        if sum(len(images) for images, _ in parts.values()) > MAX_IMAGES:
            raise DataError(f"{source} holds more than {MAX_IMAGES:,} pictures; the limit is {MAX_IMAGES:,}")
    splits = {
        split: (np.stack(images), np.asarray(labels, dtype=np.int64)) for split, (images, labels) in parts.items()
    }
    return splits, classes, skipped


def _check_classes(classes: list[str], folder: Path) -> None:
    if len(classes) < 2:
        raise DataError(f"{folder} has {len(classes)} class; a classifier needs at least two")
    if len(classes) > MAX_CLASSES:
        raise DataError(f"{folder} has {len(classes)} class folders; the limit is {MAX_CLASSES}")
    bad = [c for c in classes if not _is_class_name(c)]
    if bad:
        raise DataError(f"class names must be 1–60 {PLAIN_NAME_RULE}: {bad[0]!r} is not; rename it")
    repeated = sorted({c for c in classes if classes.count(c) > 1})
    if repeated:
        raise DataError(f"every class needs its own name: {repeated[0]!r} names more than one")


def _pictures_in(folder: Path, preparation: Preparation, skipped: list[tuple[str, str]]) -> list[np.ndarray]:
    """The pictures of one class folder as the dataset's uint8 images; the rest go to ``skipped``."""
    from core.images import MAX_UPLOAD_BYTES, PICTURE_SUFFIXES, ImageError, decode_image, prepare_picture

    images = []
    for path in sorted(folder.iterdir()):
        if path.suffix.lower() not in PICTURE_SUFFIXES:
            skipped.append((str(path), "not a PNG, JPEG, GIF, BMP or WebP file"))
            continue
        try:
            gray = decode_image(read_regular_file(path, MAX_UPLOAD_BYTES))
            images.append(prepare_picture(gray, preparation, IMAGE_SIZE))
        except (OSError, UnsafeFile, ImageError) as error:
            skipped.append((str(path), str(error)))
    return images


def _read_arrays(source: Path, preparation: Preparation):
    """An .npz of x_train, y_train, x_test, y_test (+ class_names) → (splits, classes, skipped)."""
    from core.runs import RunError, read_npz_arrays

    names = ("x_train", "y_train", "x_test", "y_test")
    try:
        data = read_regular_file(source, MAX_NPZ_BYTES)
        arrays = read_npz_arrays(data, names, source.name)
        class_names = read_npz_arrays(data, ("class_names",), source.name, kinds="U", optional=True)
    except (OSError, UnsafeFile, RunError) as error:
        raise DataError(f"{source}: {error}") from None
    splits = {}
    for split in SPLIT_FOLDERS:
        x, y = arrays[f"x_{split}"], arrays[f"y_{split}"]
        splits[split] = (_images_from_array(x, f"x_{split}", preparation), _labels_from_array(y, len(x), f"y_{split}"))
    count = int(splits["train"][1].max()) + 1
    if class_names and class_names["class_names"].ndim != 1:
        raise DataError(f"{source}: class_names must be a list of names, one per class")
    classes = [str(c) for c in class_names["class_names"].tolist()] if class_names else [str(i) for i in range(count)]
    _check_classes(classes, source)
    for split, (_, labels) in splits.items():
        if labels.max() >= len(classes):
            raise DataError(f"y_{split} has the label {int(labels.max())}, but there are {len(classes)} classes")
    missing = sorted(set(range(len(classes))) - set(splits["train"][1].tolist()))
    if missing:
        raise DataError(f"y_train has no images of class {classes[missing[0]]!r}; every class needs training images")
    return splits, classes, []


def _images_from_array(x: np.ndarray, name: str, preparation: Preparation) -> np.ndarray:
    """N×H×W (or N×H×W×C) numbers → N×28×28 uint8; floats are taken as [0, 1] if they stay within it."""
    from core.images import MAX_PIXELS, prepare_picture

    if x.ndim in (3, 4) and (x.shape[1] * x.shape[2] > MAX_PIXELS or x.size > MAX_ARRAY_PIXELS):
        raise DataError(
            f"{name} is too large: {len(x):,} × {x.shape[2]}×{x.shape[1]} pixels (each image at most 4096×4096, "
            f"{MAX_ARRAY_PIXELS:,} values in all)"
        )
    if x.ndim == 4 and x.shape[-1] in (1, 3, 4):
        x = x[..., :3].mean(axis=-1) if x.shape[-1] >= 3 else x[..., 0]
    if x.ndim != 3 or len(x) == 0 or min(x.shape[1:]) < 8:
        raise DataError(f"{name} must be N×H×W images (N×H×W×C also works), got shape {x.shape}")
    if len(x) > MAX_IMAGES:
        raise DataError(f"{name} holds {len(x):,} images; the limit is {MAX_IMAGES:,}")
    same_size = tuple(x.shape[1:]) == IMAGE_SIZE and preparation.plain_resize
    if x.dtype == np.uint8 and same_size:  # already what the IDX files hold: no float copy
        return x
    floating = x.dtype.kind == "f"
    x = x.astype(np.float32)  # one copy; the steps below work in place (an .npz may hold a million images)
    if not np.isfinite(x).all():
        raise DataError(f"{name} holds values that are not finite numbers")
    scale = 1.0 if x.max() <= 1.0 and x.min() >= 0.0 and floating and x.max() > 0 else 255.0
    x /= scale
    gray = np.clip(x, 0.0, 1.0, out=x)
    if same_size:
        gray *= 255
        return np.round(gray, out=gray).astype(np.uint8)
    return np.stack([prepare_picture(image, preparation, IMAGE_SIZE) for image in gray])


def _labels_from_array(y: np.ndarray, count: int, name: str) -> np.ndarray:
    if y.ndim != 1 or len(y) != count:
        raise DataError(f"{name} must hold one label per image: shape ({count},), got {y.shape}")
    if y.dtype.kind not in "iu" or (len(y) and y.min() < 0):
        raise DataError(f"{name} must hold class numbers 0, 1, 2, …")
    if len(y) and y.max() >= MAX_CLASSES:  # before anything is sized by it (a class list, a count)
        raise DataError(f"{name} has the label {y.max()}; labels go from 0 to {MAX_CLASSES - 1}")
    return y.astype(np.int64)


def _manifest(name, title, source, preparation, classes, splits, counts, skipped) -> dict:
    train_pixels = splits["train"][0].astype(np.float64) / 255.0
    return {
        "format": MANIFEST_FORMAT,
        "name": name,
        "title": title or name,
        "source": str(Path(source).resolve()),
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "preparation": preparation,
        "image_size": list(IMAGE_SIZE),
        "classes": list(classes),
        # Floors keep a blank dataset's statistics usable (a std of 0 would divide by zero).
        "mean": max(float(train_pixels.mean()), 1e-3),
        "std": max(float(train_pixels.std()), 1e-3),
        "counts": counts,
        "skipped": len(skipped),
    }


def _write_atomically(destination: Path, splits: dict, manifest: dict) -> None:
    """The IDX files and the manifest under a temporary folder beside ``destination``, then one rename."""
    from core.fetch import idx_bytes

    destination.parent.mkdir(parents=True, exist_ok=True)
    _remove_abandoned_builds(destination.parent)
    # mkdir, not tempfile.mkdtemp: the folder becomes the dataset's, with the usual permissions (umask).
    building = destination.parent / f"{BUILDING_PREFIX}{destination.name}-{secrets.token_hex(4)}"
    building.mkdir()
    try:
        raw = building / "raw"
        raw.mkdir()
        digests = {}
        for split, (images_file, labels_file) in (("train", IdxFiles().train), ("test", IdxFiles().test)):
            images, labels = splits[split]
            # MAX_CLASSES is 256, so every label fits the IDX files' unsigned bytes.
            for file_name, array in ((images_file, images), (labels_file, labels.astype(np.uint8))):
                data = idx_bytes(np.ascontiguousarray(array))
                (raw / file_name).write_bytes(data)
                digests[file_name] = hashlib.sha256(data).hexdigest()
        atomic_write_json(building / MANIFEST, {**manifest, "sha256": digests})
        try:
            building.rename(destination)
        except OSError:
            if destination.exists():  # another `data add` of this name finished first: its dataset stands
                raise DataError(f"{destination} was made meanwhile by another data add: choose another name") from None
            raise
    except BaseException:
        shutil.rmtree(building, ignore_errors=True)
        raise


def _remove_abandoned_builds(root: Path) -> None:
    """Folders a killed ``data add`` left half-built; an hour old, so that none still being built is touched."""
    for folder in root.glob(f"{BUILDING_PREFIX}*"):
        try:
            abandoned = folder.is_dir() and not folder.is_symlink() and time.time() - folder.stat().st_mtime > 3600
        except OSError:
            continue
        if abandoned:
            shutil.rmtree(folder, ignore_errors=True)


def skipped_summary(skipped: list[tuple[str, str]]) -> str:
    """'3 pictures skipped: 2 not an image, 1 blank…' — the reasons counted, most common first."""
    reasons = Counter(why for _, why in skipped)
    return f"{len(skipped)} picture(s) skipped: " + "; ".join(f"{n} × {why}" for why, n in reasons.most_common(3))
