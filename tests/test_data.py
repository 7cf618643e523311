import numpy as np
import pytest
import torch

from core.data import DataError, load_dataset, normalize, validation_indices
from tests.conftest import write_idx_dataset


def test_loads_idx_files_as_uint8_splits(tmp_path):
    files = write_idx_dataset(tmp_path, "fashion-mnist", train_count=400, test_count=100)
    data = load_dataset("fashion-mnist", tmp_path)
    assert data.info.classes[2] == "Pullover" and data.info.classes[9] == "Ankle boot"
    for split in (data.train, data.val, data.test):
        assert split.images.dtype == torch.uint8 and split.images.shape[1:] == (28, 28)
        assert split.labels.dtype == torch.int64
    assert len(data.train) + len(data.val) == 400
    assert len(data.test) == 100
    # The images are the file's bytes, untouched.
    test_pixels = np.frombuffer(files["t10k-images-idx3-ubyte"][16:], dtype=np.uint8).reshape(-1, 28, 28)
    assert np.array_equal(data.test.images.numpy(), test_pixels)


def test_validation_is_a_fixed_disjoint_hold_out_of_the_training_file(tmp_path):
    write_idx_dataset(tmp_path, "mnist", train_count=400)
    first, second = load_dataset("mnist", tmp_path), load_dataset("mnist", tmp_path)
    assert torch.equal(first.val.indices, second.val.indices)
    train_positions, val_positions = set(first.train.indices.tolist()), set(first.val.indices.tolist())
    assert not train_positions & val_positions
    assert train_positions | val_positions == set(range(400))


def test_validation_split_of_the_full_training_file():
    positions = validation_indices()
    assert len(positions) == 5_000 and len(set(positions.tolist())) == 5_000
    assert positions.min() >= 0 and positions.max() < 60_000
    assert torch.equal(positions, validation_indices())


def test_missing_dataset_says_how_to_fetch_it(tmp_path):
    with pytest.raises(DataError, match="python -m core data fetch --dataset mnist"):
        load_dataset("mnist", tmp_path)


def test_damaged_file_is_a_clear_error(tmp_path):
    write_idx_dataset(tmp_path, "mnist")
    (tmp_path / "MNIST/raw/train-images-idx3-ubyte").write_bytes(b"\x00\x00\x08\x03garbage")
    with pytest.raises(DataError, match="could not be read"):
        load_dataset("mnist", tmp_path)


@pytest.mark.parametrize(
    ("damage", "reason"),
    [
        (lambda data: b"\x00\x00\x09\x03" + data[4:], "not an IDX file of 3-D unsigned bytes"),  # int8, not uint8
        (lambda data: data[:-1], "where its header promises"),  # one byte short
        (lambda data: data + b"\x00", "where its header promises"),  # one byte too many
    ],
)
def test_an_idx_file_whose_header_and_size_disagree_is_refused(tmp_path, damage, reason):
    files = write_idx_dataset(tmp_path, "mnist")
    path = tmp_path / "MNIST/raw/train-images-idx3-ubyte"
    path.write_bytes(damage(files["train-images-idx3-ubyte"]))
    with pytest.raises(DataError, match=reason):
        load_dataset("mnist", tmp_path)


def test_the_idx_reader_reads_what_torchvision_reads(tmp_path):
    from torchvision.datasets.mnist import read_image_file, read_label_file

    from core.data import read_idx

    write_idx_dataset(tmp_path, "fashion-mnist", train_count=50, test_count=20)
    folder = tmp_path / "FashionMNIST/raw"
    assert torch.equal(
        read_idx(folder / "t10k-images-idx3-ubyte", 3), read_image_file(str(folder / "t10k-images-idx3-ubyte"))
    )
    assert torch.equal(
        read_idx(folder / "t10k-labels-idx1-ubyte", 1).long(), read_label_file(str(folder / "t10k-labels-idx1-ubyte"))
    )


def test_unknown_dataset():
    with pytest.raises(DataError, match="choose one of: mnist, fashion-mnist"):
        load_dataset("cifar10")


def test_normalize_a_batch():
    images = torch.tensor([[[0, 255]]], dtype=torch.uint8).expand(3, 28, 2).contiguous()
    out = normalize(images, mean=0.5, std=0.5)
    assert out.shape == (3, 1, 28, 2) and out.dtype == torch.float32
    assert torch.allclose(out[:, :, :, 0], torch.tensor(-1.0)) and torch.allclose(out[:, :, :, 1], torch.tensor(1.0))


def test_only_the_idx_files_are_read_never_torchvision_processed_files(tmp_path):
    """A well-formed processed/*.pt with other labels must not be what the dataset is (only IDX is checked)."""
    write_idx_dataset(tmp_path, "mnist", train_count=400, test_count=100)
    expected = load_dataset("mnist", tmp_path)
    processed = tmp_path / "MNIST" / "processed"
    processed.mkdir()
    forged = (torch.zeros(100, 28, 28, dtype=torch.uint8), torch.zeros(100, dtype=torch.int64))
    for name in ("training.pt", "test.pt"):
        torch.save(forged, processed / name)
    data = load_dataset("mnist", tmp_path)
    assert torch.equal(data.test.labels, expected.test.labels) and len(data.train) + len(data.val) == 400


def test_labels_outside_the_classes_are_refused(tmp_path):
    from core.data import DATASETS, raw_dir
    from core.fetch import idx_bytes

    write_idx_dataset(tmp_path, "mnist", train_count=400, test_count=100)
    (raw_dir(DATASETS["mnist"], tmp_path) / "t10k-labels-idx1-ubyte").write_bytes(idx_bytes(np.full(100, 12, np.uint8)))
    with pytest.raises(DataError, match="labels outside 0–9"):
        load_dataset("mnist", tmp_path)


def test_the_intensity_histogram_is_numpys_16_bins_over_0_to_256(synthetic_data):
    import numpy as np

    from core.data import summarize_dataset

    histogram = summarize_dataset(synthetic_data).histogram
    counts, edges = np.histogram(synthetic_data.train.images.numpy(), bins=16, range=(0, 256))
    assert histogram["fraction"].tolist() == (counts / counts.sum()).tolist()
    assert histogram["intensity"].tolist() == edges[:-1].tolist()
    assert histogram["intensity_end"].tolist() == edges[1:].tolist()


def test_a_training_split_without_pictures_has_an_empty_histogram_not_nan(synthetic_data):
    from dataclasses import replace

    from core.data import Split, summarize_dataset

    train = synthetic_data.train
    empty = replace(synthetic_data, train=Split(train.images[:0], train.labels[:0], train.indices[:0]))
    fractions = summarize_dataset(empty).histogram["fraction"]
    assert fractions.tolist() == [0.0] * 16
