"""The rest of the MNIST family: KMNIST, QMNIST and EMNIST, each one record, read in its own layout.

These files can't be downloaded on the test machines, so each dataset is built synthetically in the
same format and layout as the originals (QMNIST's int32 label rows and 60,000-row test file, EMNIST's
transposed images, letters numbered from 1), and its distributed archives (.gz files, EMNIST's zip)
are made from them to check the by-hand route: placed in the raw folder, MD5-checked, unpacked.
"""

import dataclasses
import gzip
import hashlib
import io
import zipfile

import numpy as np
import pytest

from core import fetch as fetch_module
from core.data import DATASETS, load_dataset, raw_dir, read_idx
from core.fetch import FetchError, fetch, idx_bytes
from core.synthetic import synthetic_images, write_idx_dataset

FAMILY = ("kmnist", "qmnist", "emnist-balanced", "emnist-letters", "emnist-digits")


@pytest.mark.parametrize("name", FAMILY)
def test_each_family_member_reads_in_its_own_layout(tmp_path, name):
    write_idx_dataset(tmp_path, name, train_count=300, test_count=40)
    info = DATASETS[name]
    data = load_dataset(name, tmp_path)
    assert len(data.test) == 40  # QMNIST: the rows after its first 10,000
    assert len(data.train) + len(data.val) == 300
    labels = np.concatenate([data.train.labels.numpy(), data.test.labels.numpy()])
    assert labels.min() >= 0 and labels.max() < info.num_classes
    # The images come back upright and with their own labels, whatever the file's layout.
    expected_images, expected_labels = synthetic_images(40 + info.files.test_start, 11, num_classes=info.num_classes)
    np.testing.assert_array_equal(data.test.images.numpy(), expected_images[info.files.test_start :])
    np.testing.assert_array_equal(data.test.labels.numpy(), expected_labels[info.files.test_start :])


def test_the_family_has_the_published_class_counts():
    counts = {name: DATASETS[name].num_classes for name in FAMILY}
    assert counts == {"kmnist": 10, "qmnist": 10, "emnist-balanced": 47, "emnist-letters": 26, "emnist-digits": 10}
    assert len(set(DATASETS["emnist-balanced"].classes)) == 47


def test_int32_idx_round_trip(tmp_path):
    rows = (np.arange(24, dtype=np.int32).reshape(3, 8) - 5) * 1_000_003
    (tmp_path / "labels").write_bytes(idx_bytes(rows))
    np.testing.assert_array_equal(read_idx(tmp_path / "labels", dimensions=2).numpy(), rows)


def _archives_of(name: str, root) -> dict[str, bytes]:
    """The dataset's distributed archives, made from synthetic IDX files written in its layout."""
    info = DATASETS[name]
    files = write_idx_dataset(root / "made", name, train_count=120, test_count=30)
    if info.files.archives[0][0].endswith(".zip"):
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as archive:
            for file_name, data in files.items():
                archive.writestr(f"gzip/{file_name}.gz", gzip.compress(data))
        return {"gzip.zip": buffer.getvalue()}
    return {f"{file_name}.gz": gzip.compress(data) for file_name, data in files.items()}


@pytest.mark.parametrize("name", ["kmnist", "qmnist", "emnist-letters"])
def test_archives_placed_by_hand_are_checked_and_unpacked(tmp_path, monkeypatch, name):
    archives = _archives_of(name, tmp_path)
    info = DATASETS[name]
    ours = dataclasses.replace(
        info,
        files=dataclasses.replace(
            info.files, archives=tuple((n, hashlib.md5(d).hexdigest()) for n, d in archives.items())
        ),
    )
    monkeypatch.setitem(DATASETS, name, ours)
    folder = raw_dir(ours, tmp_path / "data")
    folder.mkdir(parents=True)
    for archive_name, data in archives.items():
        (folder / archive_name).write_bytes(data)
    result = fetch(name, tmp_path / "data", sources=[fetch_module.SOURCES["archives"]])
    assert result.source == "archives in the raw folder"
    assert len(load_dataset(name, tmp_path / "data").test) == 30


def test_an_archive_with_another_md5_is_refused_and_the_message_says_what_to_put_where(tmp_path):
    name = "kmnist"
    folder = raw_dir(DATASETS[name], tmp_path)
    folder.mkdir(parents=True)
    for archive_name, data in _archives_of(name, tmp_path / "work").items():
        (folder / archive_name).write_bytes(data)  # not the originals: their MD5s differ

    def unreachable(info, root):
        raise OSError("Name or service not known")

    with pytest.raises(FetchError) as caught:
        fetch(name, tmp_path, sources=[fetch_module.SOURCES["archives"], ("torchvision download", unreachable)])
    message = str(caught.value)
    assert "has MD5" in message and "expected bdb82020997e1d708af4cf47b453dcf7" in message
    assert "codh.rois.ac.jp" in message and str(folder) in message and "t10k-labels-idx1-ubyte.gz" in message
    assert not (folder / "train-images-idx3-ubyte").exists()


def test_letters_start_at_a(tmp_path):
    write_idx_dataset(tmp_path, "emnist-letters", train_count=200, test_count=30)
    raw = read_idx(raw_dir(DATASETS["emnist-letters"], tmp_path) / "emnist-letters-test-labels-idx1-ubyte", 1)
    data = load_dataset("emnist-letters", tmp_path)
    assert int(raw.min()) >= 1 and int(data.test.labels.min()) >= 0
    np.testing.assert_array_equal(data.test.labels.numpy(), raw.numpy().astype(np.int64) - 1)
