"""Dataset registry and loading: whole splits as uint8 tensors, normalised a batch at a time.

The files are read by torchvision's own dataset classes from the IDX files under
``<data root>/<Folder>/raw/``; ``core.fetch`` puts them there.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torchvision import datasets

PROJECT_ROOT = Path(__file__).resolve().parent.parent

# The validation split is the same for every run, so that runs can be compared:
# a fixed, seeded hold-out from the 60,000 training images. The test split is
# never used to choose anything.
VAL_SIZE = 5_000
VAL_SEED = 20_240_601

SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class DatasetInfo:
    name: str
    title: str
    folder: str  # torchvision's folder name under the data root
    torchvision_class: type
    classes: tuple[str, ...]
    mean: float  # of the training pixels scaled to [0, 1]
    std: float
    # MD5 of each uncompressed IDX file, by file name.
    md5: dict[str, str]

    @property
    def num_classes(self) -> int:
        return len(self.classes)


DATASETS: dict[str, DatasetInfo] = {
    "mnist": DatasetInfo(
        name="mnist",
        title="MNIST digits",
        folder="MNIST",
        torchvision_class=datasets.MNIST,
        classes=tuple(str(d) for d in range(10)),
        mean=0.1307,
        std=0.3081,
        md5={
            "train-images-idx3-ubyte": "6bbc9ace898e44ae57da46a324031adb",
            "train-labels-idx1-ubyte": "a25bea736e30d166cdddb491f175f624",
            "t10k-images-idx3-ubyte": "2646ac647ad5339dbf082846283269ea",
            "t10k-labels-idx1-ubyte": "27ae3e4e09519cfbb04c329615203637",
        },
    ),
    "fashion-mnist": DatasetInfo(
        name="fashion-mnist",
        title="Fashion-MNIST clothing",
        folder="FashionMNIST",
        torchvision_class=datasets.FashionMNIST,
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
    images: torch.Tensor  # uint8, N×28×28
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

    def split(self, name: str) -> Split:
        if name not in SPLITS:
            raise DataError(f"unknown split {name!r}; choose one of: {', '.join(SPLITS)}")
        return getattr(self, name)


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
    try:
        official_train = info.torchvision_class(str(root), train=True, download=False)
        official_test = info.torchvision_class(str(root), train=False, download=False)
    except Exception as error:  # torchvision raises several types for a damaged file
        raise DataError(
            f"{info.title} in {raw_dir(info, root)} could not be read ({error}). "
            f"Delete the folder and fetch it again: python -m core data fetch --dataset {name}"
        ) from error

    train_images, train_labels = official_train.data, official_train.targets
    val_positions = validation_indices(total=len(train_labels), size=min(VAL_SIZE, len(train_labels) // 2))
    is_val = torch.zeros(len(train_labels), dtype=torch.bool)
    is_val[val_positions] = True
    train_positions = torch.nonzero(~is_val).squeeze(1)
    return DatasetSplits(
        info=info,
        train=Split(train_images[train_positions], train_labels[train_positions], train_positions),
        val=Split(train_images[val_positions], train_labels[val_positions], val_positions),
        test=Split(official_test.data, official_test.targets, torch.arange(len(official_test.targets))),
    )


def normalize(
    images: torch.Tensor,
    mean: float,
    std: float,
    transform: Callable[[torch.Tensor], torch.Tensor] | None = None,
) -> torch.Tensor:
    """uint8 N×28×28 to float N×1×28×28 standardised with the dataset's mean and std.

    ``transform`` (e.g. augmentation) sees pixels in [0, 1] with a black background of 0.
    """
    pixels = images.unsqueeze(1).float() / 255.0
    if transform is not None:
        pixels = transform(pixels)
    return (pixels - mean) / std
