"""The analysis pages through AppTest: label issues, embedding map, saliency, run against run, draw, model card."""

import io
import json
import re

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from streamlit.testing.v1 import AppTest

from core.data import DATASETS, PROJECT_ROOT
from core.models import parameter_count
from core.runs import Run
from core.train import fit, start_run
from dashboard.widgets import rows_in_brush
from tests.conftest import small_config

APP = str(PROJECT_ROOT / "dashboard" / "app.py")


@pytest.fixture(scope="module")
def two_run_store(trained_store, tmp_path_factory):
    """The session's trained store plus a second MNIST run (another model), for the comparison page."""
    data_dir, checkpoints = trained_store
    if not (checkpoints / "mnist-tiny-mlp").exists():
        config = small_config(dataset="mnist", model="mlp", epochs=2)
        fit(config, start_run(config, checkpoints, run_id="mnist-tiny-mlp"), data_dir=data_dir)
    return data_dir, checkpoints


@pytest.fixture
def store(two_run_store, monkeypatch):
    data_dir, checkpoints = two_run_store
    monkeypatch.setenv("DATA_DIR", str(data_dir))
    monkeypatch.setenv("CHECKPOINTS_DIR", str(checkpoints))
    return data_dir, checkpoints


def open_page(page: str, dataset: str = "mnist", run: str = "mnist-tiny") -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120)
    at.query_params["dataset"], at.query_params["run"] = dataset, run
    at.run()
    at.switch_page(f"app_pages/{page}")
    return at.run()


def test_label_issues_are_ranked_and_a_verdict_is_saved_and_shown_again(store):
    data_dir, checkpoints = store
    at = open_page("label_issues.py")
    cards = [block.value for block in at.markdown if block.value.startswith("**#")]
    assert cards, "the ranking should flag some of the 15% noisy labels"
    scores = [float(card.rsplit("label quality ", 1)[1].split()[0]) for card in cards]
    assert scores == sorted(scores)
    # Each flagged image's given label disagrees with the run's confident answer.
    assert all(card.split("given **")[1].split("**")[0] != card.split("→ **")[1].split("**")[0] for card in cards)
    first_index = int(cards[0].split("index ")[1].split()[0])
    at.segmented_control(key=f"verdict_mnist_test_{first_index}").set_value("wrong").run()
    saved = json.loads((data_dir / DATASETS["mnist"].folder / "label-reviews.json").read_text())
    assert saved["test"][str(first_index)] == "wrong"
    again = open_page("label_issues.py")
    assert again.segmented_control(key=f"verdict_mnist_test_{first_index}").value == "wrong"
    assert any("1 wrong" in block.value for block in again.caption)


def test_validation_split_label_issues(store):
    at = open_page("label_issues.py")
    at.segmented_control(key="issues_split").set_value("val").run()
    assert not at.exception and not at.warning
    assert any("validation" in block.value or "val images" in block.value for block in at.caption)


def test_the_comparison_counts_match_the_two_runs_predictions(store):
    _, checkpoints = store
    at = open_page("compare.py", run="mnist-tiny")
    at.selectbox(key="compare_a").set_value("mnist-tiny-mlp")
    at.selectbox(key="compare_b").set_value("mnist-tiny").run()
    assert not at.exception
    a = Run(checkpoints / "mnist-tiny-mlp").load_predictions()
    b = Run(checkpoints / "mnist-tiny").load_predictions()
    right_a, right_b = a.predicted == a.labels, b.predicted == b.labels
    metrics = {metric.label: metric.value for metric in at.metric}
    assert metrics["Fixed by B"] == f"{int((~right_a & right_b).sum()):,}"
    assert metrics["Broken by B"] == f"{int((right_a & ~right_b).sum()):,}"
    assert metrics["Accuracy B"] == f"{right_b.mean():.2%}"


def test_a_run_against_its_own_copy_says_they_are_the_same(store, tmp_path, monkeypatch):
    import shutil

    _, checkpoints = store
    copies = tmp_path / "runs"
    shutil.copytree(checkpoints / "mnist-tiny", copies / "mnist-tiny")
    shutil.copytree(checkpoints / "mnist-tiny", copies / "mnist-tiny-again")
    monkeypatch.setenv("CHECKPOINTS_DIR", str(copies))
    at = open_page("compare.py", run="mnist-tiny")
    assert not at.exception
    said = " ".join(block.value for block in at.info)
    assert "give the same probabilities for every test image: they hold the same weights" in said
    assert not at.get("vega_lite_chart")
    assert {metric.label: metric.delta for metric in at.metric}["Accuracy B"] in (None, "")


def test_errors_page_shows_attributions_for_predicted_and_true_class(store):
    at = open_page("errors.py")
    assert not at.exception
    captions = [image.caption for element in at.get("image") for image in element.proto.imgs]
    assert sum(c.startswith("for predicted:") for c in captions) == 1
    assert sum(c.startswith("for true:") for c in captions) == 1
    at.segmented_control(key="attribution").set_value("occlusion").run()
    assert not at.exception


def test_an_image_in_the_link_on_another_page_of_the_gallery_is_inspected(store):
    from core.evaluate import select_predictions
    from core.runs import load_run

    predictions = load_run("mnist-tiny", store[1]).load_predictions()
    rows = select_predictions(predictions.probs, predictions.labels, include_correct=True, sort="wrong_confidence")
    assert len(rows) > 100, "the test split must fill more than one page of the gallery"
    linked = int(predictions.indices[rows[103]])  # page 2
    at = AppTest.from_file(APP, default_timeout=120)
    at.query_params.update(dataset="mnist", run="mnist-tiny", correct="true", image=str(linked))
    at.run()
    at.switch_page("app_pages/errors.py")
    at.run()
    assert not at.exception
    assert "The image in the link (on page 2)" in [header.value for header in at.subheader]
    assert any(f"Test image **#{linked}**" in block.value for block in at.markdown)


def noisy_png() -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (200, 200), dtype=np.uint8)).save(buffer, "PNG")
    return buffer.getvalue()


def digit_png(size=(90, 120)) -> bytes:
    picture = Image.new("RGB", size, "white")
    picture.paste((0, 0, 0), (40, 20, 52, 100))
    buffer = io.BytesIO()
    picture.save(buffer, "PNG")
    return buffer.getvalue()


def test_an_upload_is_prepared_and_classified(store):
    at = open_page("draw.py")
    at.file_uploader(key="draw_upload").upload("one.png", digit_png(), "image/png")
    at.run()
    assert not at.exception and not at.error
    assert any("from the upload one\\.png" in block.value for block in at.markdown)  # the name escaped
    assert at.get("image"), "the prepared 28×28 image is shown"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (noisy_png()[:2000], "truncated or corrupt"),
        (b"GIF89a but not really", "not an image in an accepted format"),
        (b"", "the file is empty"),
        (b"just some text", "not an image in an accepted format"),
    ],
)
def test_a_bad_upload_gets_a_message_not_a_traceback(store, content, message):
    at = open_page("draw.py")
    at.file_uploader(key="draw_upload").upload("bad.png", content, "image/png")
    at.run()
    assert not at.exception
    assert any(message in block.value for block in at.error), [block.value for block in at.error]


def test_model_card_shows_the_layers_and_the_arithmetic(store):
    at = open_page("model_card.py")
    layers = at.dataframe[0].value
    assert layers["parameters"].sum() == parameter_count("fashion-two-conv")  # the tiny runs' model
    flatten = layers.index[layers["type"] == "Flatten"][0]
    before, after = layers["output shape"][flatten - 1], int(layers["output shape"][flatten])
    story = " ".join(block.value for block in at.caption)
    assert "Resolution 28 → " in story and f"the Flatten turns {before} into {after:,} inputs" in story
    assert re.search(r"This run: \d+ epochs, batch \d+, \w+ at [\d.e-]+, augmentation: ", story)
    assert at.get("graphviz_chart")


def test_embedding_map_renders_with_its_errors_marked(store):
    at = open_page("embedding.py")
    assert not at.exception
    assert any("black rings mark the" in block.value for block in at.caption)
    assert any("s classifier layer reads" in block.value for block in at.caption)
    at.toggle(key="embedding_errors_only").set_value(True).run()
    assert not at.exception


def test_a_dragged_rectangle_selects_the_points_inside_it():
    points = pd.DataFrame({"x": [0.0, 1.0, 2.0, 3.0], "y": [0.0, 1.0, 2.0, 3.0]}, index=[10, 11, 12, 13])
    event = {"selection": {"brush": {"x": [2.5, 0.5], "y": [0.5, 2.5]}}}
    assert rows_in_brush(event, points).tolist() == [11, 12]
    assert rows_in_brush({"selection": {}}, points).tolist() == []
    assert rows_in_brush(None, points).tolist() == []


def test_attribution_picture_colours_by_sign_and_strength():
    from core.pictures import attribution_picture

    values = np.zeros((28, 28), dtype=np.float32)
    values[0, 0], values[0, 1] = 1.0, -1.0
    image = np.zeros((28, 28), dtype=np.uint8)
    pixels = np.asarray(attribution_picture(values, image, limit=1.0, scale=1))
    assert pixels.shape == (28, 28, 3)
    assert tuple(pixels[0, 0]) == (201, 42, 42) and tuple(pixels[0, 1]) == (28, 126, 214)
    assert tuple(pixels[5, 5]) == (255, 255, 255)  # no attribution, no ink: white paper


def test_the_inspector_checks_the_label_calibrates_and_finds_look_alikes(store):
    from core.analysis import label_issues

    _, checkpoints = store
    at = open_page("errors.py")
    verdict = next(block.value for block in at.markdown if block.value.startswith("**Label check:**"))
    predictions = Run(checkpoints / "mnist-tiny").load_predictions()
    ranking = label_issues(predictions.probs, predictions.labels)
    heading = next(block.value for block in at.markdown if block.value.startswith("Test image **#"))
    shown_row = int(np.flatnonzero(predictions.indices == int(heading.split("#")[1].split("*")[0]))[0])
    flagged_rows = set(ranking[ranking["flagged"]]["row"])
    assert ("among the split's likely label errors" in verdict) == (shown_row in flagged_rows)
    assert any("Calibrated on the validation split, where one temperature" in block.value for block in at.caption)
    at.toggle(key="inspect_look_alikes").set_value(True).run()
    assert not at.exception
    summary = next(block.value for block in at.caption if block.value.startswith("Of the 8 nearest:"))
    assert sum(int(part.split()[0]) for part in summary.removeprefix("Of the 8 nearest: ").split(", ")) == 8
    assert summary.count("labelled “") >= 1


def test_a_training_image_is_its_own_nearest_look_alike(store):
    from core.analysis import similar_training_images, training_features
    from core.data import load_dataset
    from core.leaks import training_file

    data_dir, checkpoints = store
    run = Run(checkpoints / "mnist-tiny")
    data = load_dataset("mnist", data_dir)
    features = training_features(run, data)
    images = training_file(data)[0]
    assert features.shape[0] == len(images) and features.dtype == np.float16
    for position in (0, 17, len(images) - 1):
        nearest, similarity = similar_training_images(run, run.load_model(), images[position], features, count=3)
        assert similarity[0] == pytest.approx(1.0, abs=2e-3) and list(similarity) == sorted(similarity, reverse=True)
        assert np.array_equal(images[nearest[0]], images[position])  # itself, or an identical copy
