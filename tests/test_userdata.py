"""``data add``: a folder of the user's pictures, or four arrays, becomes a dataset every verb and page reads.

The folders are made here: PNG and JPEG, RGB and grayscale, odd sizes, a corrupt file, a stray text
file, an empty class; and the ways a dataset can't be made, each one message with nothing written.
"""

import hashlib
import json

import numpy as np
import pytest
from PIL import Image

from core.cli import main
from core.data import DataError, dataset_names, get_dataset_info, load_dataset
from core.synthetic import synthetic_images
from core.userdata import MANIFEST, add_dataset, unreadable_user_datasets

CLASSES = ("circle", "cross", "square")


def picture_folder(root, per_class=(12, 4), classes=CLASSES, seed=0):
    """root/train/<class>/*.png|jpg and root/test/<class>/*, in a mix of formats, modes and sizes."""
    images, labels = synthetic_images(len(classes) * sum(per_class) * 3, seed, num_classes=len(classes))
    for split, count in zip(("train", "test"), per_class, strict=True):
        for index, class_name in enumerate(classes):
            folder = root / split / class_name
            folder.mkdir(parents=True)
            picks = (
                np.flatnonzero(labels == index)[:count]
                if split == "train"
                else np.flatnonzero(labels == index)[-count:]
            )
            for n, pick in enumerate(picks):
                picture = Image.fromarray(images[pick])
                if n % 3 == 1:  # RGB at an odd size
                    picture = picture.convert("RGB").resize((41, 37))
                suffix = ".jpg" if n % 4 == 3 else ".png"
                picture.save(folder / f"{n}{suffix}", quality=95)
    return root


def test_a_folder_becomes_a_dataset_with_its_manifest(tmp_path):
    source = picture_folder(tmp_path / "pictures")
    (source / "train" / "cross" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    (source / "train" / "cross" / "notes.txt").write_text("not a picture")
    result = add_dataset("shapes", source, tmp_path / "data")
    assert result.counts == {"train": [12, 12, 12], "test": [4, 4, 4]}
    assert sorted(why for _, why in result.skipped)[0].startswith("not a PNG")
    assert len(result.skipped) == 2
    info = get_dataset_info("shapes", tmp_path / "data")
    assert info.classes == CLASSES and info.user and info.preparation.plain_resize
    data = load_dataset("shapes", tmp_path / "data")
    assert len(data.train) + len(data.val) == 36 and data.test.images.shape == (12, 28, 28)
    manifest = json.loads((tmp_path / "data" / "shapes" / MANIFEST).read_text())
    for file_name, digest in manifest["sha256"].items():
        assert hashlib.sha256((tmp_path / "data" / "shapes" / "raw" / file_name).read_bytes()).hexdigest() == digest
    assert manifest["skipped"] == 2 and manifest["counts"]["test"] == [4, 4, 4]
    assert "shapes" in dataset_names(tmp_path / "data")


def test_a_dataset_folder_has_the_usual_permissions_and_a_killed_build_is_cleared(tmp_path):
    import os
    import time

    from core.userdata import BUILDING_PREFIX

    old, fresh = tmp_path / "data" / f"{BUILDING_PREFIX}lost-1a2b", tmp_path / "data" / f"{BUILDING_PREFIX}busy-3c4d"
    for folder in (old, fresh):
        (folder / "raw").mkdir(parents=True)  # as a process killed while writing leaves it
    os.utime(old, (time.time() - 7200, time.time() - 7200))
    previous = os.umask(0o022)
    try:
        add_dataset("shapes", picture_folder(tmp_path / "pictures"), tmp_path / "data")
    finally:
        os.umask(previous)
    assert (tmp_path / "data" / "shapes").stat().st_mode & 0o777 == 0o755  # mkdtemp's 0700 hid it from others
    assert not old.exists() and fresh.exists()  # an hour old: abandoned; younger: perhaps still being built


def test_28_by_28_grayscale_pngs_come_back_exactly(tmp_path):
    images, labels = synthetic_images(40, 3, num_classes=2)
    for split in ("train", "test"):
        for index, image in enumerate(images):
            folder = tmp_path / "pictures" / split / f"class{labels[index]}"
            folder.mkdir(parents=True, exist_ok=True)
            Image.fromarray(image).save(folder / f"{index:03}.png")
    add_dataset("exact", tmp_path / "pictures", tmp_path / "data")
    test = load_dataset("exact", tmp_path / "data").test
    order = np.concatenate([np.flatnonzero(labels == k) for k in (0, 1)])
    np.testing.assert_array_equal(test.images.numpy(), images[order])


def test_one_folder_of_class_folders_is_split_a_fifth_of_each_class_for_testing(tmp_path):
    images, labels = synthetic_images(60, 3, num_classes=2)
    for index, image in enumerate(images):  # torchvision's ImageFolder layout: no train/ and test/
        folder = tmp_path / "pictures" / f"class{labels[index]}"
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(image).save(folder / f"{index:03}.png")
    result = add_dataset("folder", tmp_path / "pictures", tmp_path / "data")
    per_class = np.bincount(labels, minlength=2)
    assert result.counts["test"] == [round(0.2 * n) for n in per_class]
    assert [a + b for a, b in zip(result.counts["train"], result.counts["test"], strict=True)] == per_class.tolist()
    data = load_dataset("folder", tmp_path / "data")
    seen = {image.tobytes() for image in images}  # every picture in one split or the other, once
    both = np.concatenate([data.train.images.numpy(), data.val.images.numpy(), data.test.images.numpy()])
    assert {image.tobytes() for image in both} == seen and len(both) == len(images)
    again = add_dataset("folder-again", tmp_path / "pictures", tmp_path / "data")  # the same split each time
    assert np.array_equal(load_dataset("folder-again", tmp_path / "data").test.images, data.test.images)
    assert again.counts == result.counts


def test_the_mnist_way_centres_dark_ink_on_light_paper(tmp_path):
    for split in ("train", "test"):
        for class_name, box in (("left", (2, 2, 20, 30)), ("right", (60, 40, 90, 70))):
            folder = tmp_path / "pictures" / split / class_name
            folder.mkdir(parents=True)
            picture = Image.new("L", (100, 80), 255)
            picture.paste(0, box)
            picture.save(folder / "a.png")
    add_dataset("ink", tmp_path / "pictures", tmp_path / "data", preparation="mnist")
    image = load_dataset("ink", tmp_path / "data").test.images[0].numpy().astype(float)
    rows, cols = np.nonzero(image > 128)
    assert image[0, 0] == 0  # the light paper became the black background
    assert abs(rows.mean() - 13.5) < 1.5 and abs(cols.mean() - 13.5) < 1.5  # centred, not where it was drawn


@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda root: (root / "train" / "circle").mkdir(), "holds no usable pictures"),
        (lambda root: [p.unlink() for p in (root / "train" / "cross").iterdir()], "holds no usable pictures"),
        (lambda root: (root / "test" / "star").mkdir(), "test/ has classes that train/ lacks: star"),
        (lambda root: __import__("shutil").rmtree(root / "test"), "has train/ but no test/: give both"),
        (lambda root: [(root / s / "cross").rename(root / s / "www.evil.example") for s in ("train", "test")], "www"),
    ],
    ids=["empty-class", "class-of-no-pictures", "test-class-missing-from-train", "no-test-folder", "class-is-a-link"],
)
def test_a_folder_that_cant_be_a_dataset_is_one_message_and_nothing_written(tmp_path, damage, message):
    source = tmp_path / "pictures"
    picture_folder(source, classes=("cross", "square"))
    damage(source)
    with pytest.raises(DataError, match=message):
        add_dataset("shapes", source, tmp_path / "data")
    assert not (tmp_path / "data").exists() or list((tmp_path / "data").iterdir()) == []


def test_one_class_is_not_a_classifier(tmp_path):
    picture_folder(tmp_path / "pictures", classes=("only",))
    with pytest.raises(DataError, match="at least two"):
        add_dataset("single", tmp_path / "pictures", tmp_path / "data")


@pytest.mark.parametrize("name", ["mnist", "emnist", "Shapes", "../up", "a b", ""])
def test_names_that_clash_or_cant_be_folders_are_refused(tmp_path, name):
    picture_folder(tmp_path / "pictures")
    with pytest.raises(DataError, match="built-in|can't name"):
        add_dataset(name, tmp_path / "pictures", tmp_path / "data")


def test_a_name_already_taken_is_refused_and_the_first_dataset_kept(tmp_path):
    picture_folder(tmp_path / "pictures")
    add_dataset("shapes", tmp_path / "pictures", tmp_path / "data")
    before = (tmp_path / "data" / "shapes" / MANIFEST).read_bytes()
    with pytest.raises(DataError, match="already exists"):
        add_dataset("shapes", tmp_path / "pictures", tmp_path / "data")
    assert (tmp_path / "data" / "shapes" / MANIFEST).read_bytes() == before


def test_arrays_with_class_names(tmp_path):
    rng = np.random.default_rng(0)
    x_train, y_train = synthetic_images(60, 1, num_classes=3)
    arrays = {
        "x_train": x_train.astype(np.float32) / 255.0,  # floats in [0, 1] are taken as such
        "y_train": y_train,
        "x_test": rng.integers(0, 256, size=(9, 32, 32, 3), dtype=np.uint8),  # RGB at another size
        "y_test": np.array([0, 1, 2] * 3),
        "class_names": np.array(["alpha", "beta", "gamma"]),
    }
    np.savez(tmp_path / "arrays.npz", **arrays)
    result = add_dataset("greek", tmp_path / "arrays.npz", tmp_path / "data")
    assert result.info.classes == ("alpha", "beta", "gamma") and result.counts["test"] == [3, 3, 3]
    train = load_dataset("greek", tmp_path / "data")
    np.testing.assert_array_equal(
        np.sort(np.concatenate([train.train.images, train.val.images]).ravel()), np.sort(x_train.ravel())
    )


@pytest.mark.parametrize(
    "change, message",
    [
        ({"y_train": np.zeros(60, dtype=np.int64)}, "at least two"),
        ({"y_test": np.array([0, 1, 7])}, "y_test must hold one label per image"),
        ({"x_test": np.zeros((3, 4), dtype=np.uint8)}, "x_test must be N×H×W"),
        ({"y_train": np.full(60, 0.5)}, "class numbers"),
        ({"x_train": np.full((60, 28, 28), np.nan, dtype=np.float32)}, "not finite"),
        # A label sizes the class list: 2**40 once took all memory before the class limit was checked.
        ({"y_train": np.array([2**40] + [0, 1, 2] * 19 + [0, 1])}, "labels go from 0 to 255"),
        ({"y_train": np.array([2**64 - 1] + [0, 1, 2] * 19 + [0, 1], dtype=np.uint64)}, "labels go from 0 to 255"),
        ({"x_test": np.zeros((1, 4100, 4100), dtype=np.uint8)}, "x_test is too large: 1 × 4100×4100 pixels"),
        ({"class_names": np.array(["a", "b", "a"])}, "every class needs its own name: 'a' names more than one"),
        ({"class_names": np.array("abc")}, "class_names must be a list of names, one per class"),  # not 'a', 'b', 'c'
    ],
)
def test_arrays_that_cant_be_a_dataset(tmp_path, change, message):
    x, y = synthetic_images(60, 1, num_classes=3)
    arrays = {"x_train": x, "y_train": y, "x_test": x[:9], "y_test": y[:9]} | change
    np.savez(tmp_path / "arrays.npz", **arrays)
    with pytest.raises(DataError, match=message):
        add_dataset("bad", tmp_path / "arrays.npz", tmp_path / "data")
    assert not (tmp_path / "data" / "bad").exists()


def test_arrays_past_the_memory_limit_are_refused_before_any_copy(tmp_path, monkeypatch):
    import core.userdata

    monkeypatch.setattr(core.userdata, "MAX_ARRAY_PIXELS", 60 * 28 * 28 - 1)
    x, y = synthetic_images(60, 1, num_classes=3)
    np.savez(tmp_path / "arrays.npz", x_train=x, y_train=y, x_test=x[:9], y_test=y[:9])
    with pytest.raises(DataError, match="x_train is too large: 60 × 28×28 pixels"):
        add_dataset("big", tmp_path / "arrays.npz", tmp_path / "data")


def test_a_pickled_array_is_refused_not_loaded(tmp_path):
    x, y = synthetic_images(30, 1, num_classes=3)
    np.savez(
        tmp_path / "arrays.npz",
        x_train=x,
        y_train=y,
        x_test=x,
        y_test=y,
        class_names=np.array([{}, 1, "a"], dtype=object),
    )
    with pytest.raises(DataError, match="not text"):
        add_dataset("pickled", tmp_path / "arrays.npz", tmp_path / "data")


def test_a_damaged_manifest_is_named_not_listed(tmp_path):
    picture_folder(tmp_path / "pictures")
    add_dataset("shapes", tmp_path / "pictures", tmp_path / "data")
    manifest = tmp_path / "data" / "shapes" / MANIFEST
    manifest.write_text(json.dumps({**json.loads(manifest.read_text()), "classes": ["one"]}))
    assert "shapes" not in dataset_names(tmp_path / "data")
    [(name, why)] = unreadable_user_datasets(tmp_path / "data")
    assert name == "shapes" and "manifest of shapes is damaged" in why
    with pytest.raises(DataError, match="damaged"):
        get_dataset_info("shapes", tmp_path / "data")


def test_the_cli_adds_trains_and_evaluates_a_folder(tmp_path, capsys):
    picture_folder(tmp_path / "pictures", per_class=(40, 8))
    data, store = ["--data-dir", str(tmp_path / "data")], ["--checkpoints", str(tmp_path / "runs")]
    assert main(["data", "add", "shapes", "--from", str(tmp_path / "pictures"), *data]) == 0
    assert "120 training and 24 test images of 3 classes" in capsys.readouterr().out
    quick = ["train", "--dataset", "shapes", "--preset", "quick", "--epochs", "1", "--run-id", "s", *data, *store]
    assert main(quick) == 2  # the quick preset's batch of 256 would hold all 110 training images
    assert "larger than the 110 training images" in capsys.readouterr().err
    assert main([*quick, "--batch-size", "32"]) == 0
    assert main(["confusion", "s", *store]) == 0
    assert "circle" in capsys.readouterr().out
    assert main(["label-issues", "s", *data, *store]) == 0
    assert "no label check, 24 images are too few to judge labels by" in capsys.readouterr().out
    assert main(["data", "add", "shapes", "--from", str(tmp_path / "pictures"), *data]) == 1
    assert "already exists" in capsys.readouterr().err


def test_the_pages_make_no_label_check_on_a_split_of_a_few_pictures(tmp_path, monkeypatch):
    from streamlit.testing.v1 import AppTest

    from core.data import PROJECT_ROOT
    from core.runs import load_run
    from dashboard.inspect import label_verdict

    picture_folder(tmp_path / "pictures", per_class=(40, 8))
    data, store = ["--data-dir", str(tmp_path / "data")], ["--checkpoints", str(tmp_path / "runs")]
    assert main(["data", "add", "shapes", "--from", str(tmp_path / "pictures"), *data]) == 0
    train = ["train", "--dataset", "shapes", "--preset", "quick", "--epochs", "1", "--batch-size", "32"]
    assert main([*train, "--run-id", "s", *data, *store]) == 0
    monkeypatch.setenv("DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("CHECKPOINTS_DIR", str(tmp_path / "runs"))
    at = AppTest.from_file(str(PROJECT_ROOT / "dashboard" / "app.py"), default_timeout=120)
    at.query_params["dataset"], at.query_params["run"] = "shapes", "s"
    at.run()
    at.switch_page("app_pages/label_issues.py")
    at.run()
    assert not at.exception
    assert [info.value for info in at.info] == [
        "No label check on the test images: 24 images are too few to judge labels by (at least 50 are needed)."
    ]
    predictions = load_run("s", tmp_path / "runs").load_predictions()
    verdict = label_verdict(load_run("s", tmp_path / "runs"), predictions, 0, ["a", "b", "c"])
    assert "not made on this test split: 24 images are too few" in verdict


def test_two_adds_of_one_name_at_once_keep_the_first_and_name_the_clash(tmp_path, monkeypatch):
    import core.userdata

    source = picture_folder(tmp_path / "pictures")
    write = core.userdata._write_atomically

    def the_other_finishes_first(destination, splits, manifest):
        monkeypatch.setattr(core.userdata, "_write_atomically", write)
        add_dataset("shapes", source, tmp_path / "data")  # checked free before this one, done before it renames
        write(destination, splits, manifest)

    monkeypatch.setattr(core.userdata, "_write_atomically", the_other_finishes_first)
    with pytest.raises(DataError, match="was made meanwhile by another data add: choose another name"):
        add_dataset("shapes", source, tmp_path / "data")
    assert get_dataset_info("shapes", tmp_path / "data").classes == CLASSES
    assert [p.name for p in (tmp_path / "data").iterdir()] == ["shapes"]  # no half-built folder left
