"""The analysis core (label issues, features, projections, attributions, run diff, model card) and its CLI."""

import io
import json
import shutil
import zipfile

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from core.analysis import (
    LabelReviews,
    ReviewsUnreadable,
    attributions,
    classify_image,
    compare_runs,
    label_check_problem,
    label_issues,
    penultimate_features,
    project,
    temperature_scaled,
)
from core.cli import main
from core.modelcard import layer_graph, layer_table, onnx_bytes
from core.models import MODELS, classifier_layer, create_model, list_models


def noisy_predictions(count=600, flipped=30, seed=0):
    """Confident, mostly right probabilities; ``flipped`` labels changed afterwards (the planted label errors)."""
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, 10, size=count)
    logits = rng.normal(0, 1, size=(count, 10))
    logits[np.arange(count), truth] += 6
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    labels = truth.copy()
    planted = rng.choice(count, size=flipped, replace=False)
    labels[planted] = (truth[planted] + rng.integers(1, 10, size=flipped)) % 10
    return probs, labels, truth, planted


def test_label_issues_find_the_planted_errors_first_and_suggest_the_truth():
    probs, labels, truth, planted = noisy_predictions()
    issues = label_issues(probs, labels)
    assert list(issues.columns) == ["row", "given", "suggested", "score", "flagged"]
    assert sorted(issues["row"]) == list(range(len(labels)))  # every image, once
    flagged = issues[issues["flagged"]]
    assert flagged.index.max() < len(flagged)  # flagged first
    assert flagged["score"].is_monotonic_increasing and issues[~issues["flagged"]]["score"].is_monotonic_increasing
    hits = len(set(flagged["row"]) & set(planted))
    assert hits >= 0.8 * len(planted) and hits >= 0.9 * len(flagged)  # recall and precision
    assert (issues["given"].to_numpy() == labels[issues["row"]]).all()
    found = flagged[flagged["row"].isin(planted)]
    assert (found["suggested"].to_numpy() == truth[found["row"]]).all()


def test_under_confident_predictions_are_calibrated_before_judging():
    """Label smoothing caps the top probability near 0.9; cleanlab must still find the planted errors."""
    probs, labels, _, planted = noisy_predictions()
    smoothed = 0.85 * probs + 0.15 / 10
    flagged = label_issues(smoothed, labels).query("flagged")
    assert len(set(flagged["row"]) & set(planted)) >= 0.8 * len(planted)
    calibrated = temperature_scaled(smoothed, labels)
    assert np.allclose(calibrated.sum(axis=1), 1) and calibrated.max(axis=1).mean() > smoothed.max(axis=1).mean()


def test_label_issues_of_nothing_is_empty():
    assert label_issues(np.empty((0, 10)), np.empty(0, dtype=int)).empty


def test_labels_of_one_class_are_ranked_and_none_flagged():  # cleanlab needs two classes to flag anything
    probs = np.full((3, 10), 0.01)
    probs[:, 3] = 0.91
    probs[1, [3, 9]] = 0.01, 0.91  # the second image looks like a 9
    issues = label_issues(probs, np.full(3, 3))
    assert issues["row"].tolist()[0] == 1 and not issues["flagged"].any()


def test_a_split_too_small_to_judge_flags_nothing_and_says_why():
    # 40 images, two of them planted errors the model is sure about: cleanlab would flag them, on
    # thresholds set by four images a class.
    probs, labels, _, planted = noisy_predictions(count=40, flipped=2)
    assert label_check_problem(labels) == "40 images are too few to judge labels by (at least 50 are needed)"
    issues = label_issues(probs, labels)
    assert not issues["flagged"].any()
    assert set(issues["row"][:2]) == set(planted)  # still ranked: the model's probability of the label
    assert label_check_problem(noisy_predictions(count=60)[1]) is None
    assert label_check_problem(np.full(60, 3)) == (
        "its images are all of one class, and cleanlab judges labels by comparing classes"
    )


def test_reviews_round_trip_forget_and_survive_a_damaged_file(tmp_path):
    reviews = LabelReviews(tmp_path / "MNIST" / "label-reviews.json")
    assert reviews.load() == {}
    reviews.mark("test", 42, "wrong")
    reviews.mark("test", 7, "fine")
    reviews.mark("val", 42, "fine")
    assert reviews.load() == {"test": {"42": "wrong", "7": "fine"}, "val": {"42": "fine"}}
    reviews.mark("test", 42, None)
    assert reviews.load()["test"] == {"7": "fine"}
    with pytest.raises(ValueError):
        reviews.mark("test", 1, "maybe")
    reviews.path.write_text("{half")
    with pytest.raises(ReviewsUnreadable, match="can't be read"):
        reviews.load()
    moved = reviews.mark("test", 5, "wrong")  # the damaged file is kept aside, never overwritten
    assert moved.read_text() == "{half" and reviews.load() == {"test": {"5": "wrong"}}


@pytest.mark.parametrize("name", list_models())
def test_penultimate_features_are_the_input_of_the_classifier(name):
    model = create_model(name).eval()
    images = torch.randint(0, 256, (5, 28, 28), dtype=torch.uint8)
    last = classifier_layer(name, model)
    features = penultimate_features(model, last, images, 0.13, 0.31)
    assert features.shape == (5, last.in_features)
    logits = torch.from_numpy(features) @ last.weight.T + last.bias
    output = model(((images.float() / 255 - 0.13) / 0.31).unsqueeze(1))
    assert torch.allclose(logits, output, atol=1e-4) or torch.allclose(logits.log_softmax(1), output, atol=1e-4)


def test_projections_keep_one_point_per_image_and_separate_clusters():
    rng = np.random.default_rng(0)
    features = np.concatenate([rng.normal(0, 1, (60, 16)), rng.normal(8, 1, (60, 16))]).astype(np.float32)
    for method in ("pca", "tsne"):
        points = project(features, method)
        assert points.shape == (120, 2) and np.isfinite(points).all()
        first, second = points[:60].mean(axis=0), points[60:].mean(axis=0)
        spread = points[:60].std(axis=0).max()
        assert np.linalg.norm(first - second) > 3 * spread, method
    with pytest.raises(ValueError, match="unknown projection"):
        project(features, "umap-9000")


def test_saliency_of_a_linear_model_is_its_weights_against_the_classes_mean():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(784, 10)).eval()
    image = np.random.default_rng(0).integers(0, 256, (28, 28)).astype(np.uint8)
    maps = attributions(model, image, 0.13, 0.31, targets=[3, 7], method="saliency")
    assert maps.shape == (2, 28, 28)
    weights = model[1].weight.detach()
    expected = (weights[[3, 7]] - weights.mean(dim=0)).reshape(2, 28, 28).numpy()
    assert np.allclose(maps, expected, atol=1e-6)


def vertical_bar(top: int, bottom: int) -> np.ndarray:
    """A black 28×28 image with a white stroke four pixels wide: a one, roughly."""
    image = np.zeros((28, 28), dtype=np.uint8)
    image[top:bottom, 12:16] = 255
    return image


class LogSoftmaxOf(torch.nn.Module):
    """The tutorials' convention: the same network, returning log-probabilities."""

    def __init__(self, model: torch.nn.Module):
        super().__init__()
        self.model = model

    def forward(self, inputs):
        return torch.nn.functional.log_softmax(self.model(inputs), dim=1)


@pytest.mark.parametrize("method", ["occlusion", "integrated-gradients", "saliency"])
def test_a_model_returning_log_softmax_is_explained_as_its_logits_are(method):
    # A confident log_softmax model's predicted class barely moves (log p stays near 0): its map was flat.
    torch.manual_seed(0)
    logits_model = create_model("quick-cnn").eval()
    image = vertical_bar(6, 22)
    from_logits = attributions(logits_model, image, 0.13, 0.31, targets=[1, 4], method=method)
    from_log_probs = attributions(LogSoftmaxOf(logits_model), image, 0.13, 0.31, targets=[1, 4], method=method)
    assert np.abs(from_logits).max() > 0
    assert np.allclose(from_log_probs, from_logits, atol=1e-4 * np.abs(from_logits).max())


@pytest.mark.parametrize("method", ["integrated-gradients", "occlusion"])
def test_attributions_explain_the_score_difference_from_a_black_image(method):
    torch.manual_seed(0)
    model = create_model("quick-cnn").eval()
    image = vertical_bar(8, 20)
    maps = attributions(model, image, 0.13, 0.31, targets=[1, 4], method=method)
    assert maps.shape == (2, 28, 28) and np.isfinite(maps).all()
    if method == "integrated-gradients":  # completeness: the attributions add up to f(x) − f(black)
        x = ((torch.from_numpy(image).float() / 255 - 0.13) / 0.31).reshape(1, 1, 28, 28)
        black = torch.full_like(x, -0.13 / 0.31)
        with torch.no_grad():
            difference = model(x) - model(black)
        difference = (difference - difference.mean(dim=1, keepdim=True))[0, [1, 4]].numpy()  # centred outputs
        assert np.allclose(maps.reshape(2, -1).sum(axis=1), difference, atol=0.05 * np.abs(difference).max() + 1e-3)


def test_compare_runs_counts_match_a_brute_force_count():
    probs_a, labels, _, _ = noisy_predictions(seed=1)
    probs_b, _, _, _ = noisy_predictions(seed=2)
    names = [str(i) for i in range(10)]
    diff = compare_runs(probs_a, probs_b, labels, names)
    right_a, right_b = probs_a.argmax(1) == labels, probs_b.argmax(1) == labels
    assert sorted(diff.fixed) == [i for i in range(len(labels)) if not right_a[i] and right_b[i]]
    assert sorted(diff.broken) == [i for i in range(len(labels)) if right_a[i] and not right_b[i]]
    assert diff.accuracy_b - diff.accuracy_a == pytest.approx((len(diff.fixed) - len(diff.broken)) / len(labels))
    assert diff.confusion_delta.sum() == 0  # the same images, moved between cells
    assert np.trace(diff.confusion_delta) == len(diff.fixed) - len(diff.broken)
    confidence_b = probs_b.max(1)[diff.fixed]
    assert (np.diff(confidence_b) <= 0).all()
    with pytest.raises(ValueError, match="different images"):
        compare_runs(probs_a, probs_b[:10], labels, names)


def test_classify_image_gives_probabilities():
    probs = classify_image(create_model("mlp").eval(), np.zeros((28, 28), np.uint8), 0.13, 0.31)
    assert probs.shape == (10,) and probs.sum() == pytest.approx(1.0, abs=1e-5)


@pytest.mark.parametrize("name", list_models())
def test_layer_table_counts_every_parameter(name):
    model = create_model(name)
    layers = layer_table(model, MODELS[name].input_shape)
    assert layers["parameters"].sum() == sum(p.numel() for p in model.parameters())
    assert layers["output shape"].iloc[-1] == "10"
    graph = layer_graph(layers, MODELS[name].input_shape)
    assert graph.count("->") == len(layers) and "1 × 28 × 28" in graph


def test_layer_table_does_the_tutorials_arithmetic():
    layers = layer_table(create_model("two-conv-dropout"), (1, 28, 28)).set_index("type", append=True)
    shapes = layers["output shape"].tolist()
    assert "32 × 14 × 14" in shapes and "64 × 7 × 7" in shapes and "3136" in shapes  # 28 → 14 → 7, 64·7·7


def test_onnx_export_is_a_valid_model_with_a_free_batch_size():
    import onnx

    proto = onnx.load_from_string(onnx_bytes(create_model("quick-cnn"), (1, 28, 28)))
    onnx.checker.check_model(proto)
    [image] = proto.graph.input
    assert image.name == "image" and image.type.tensor_type.shape.dim[0].dim_param


# --- the CLI over a trained run ---------------------------------------------------------------------


@pytest.fixture
def cli_store(trained_store, monkeypatch):
    data_dir, checkpoints = trained_store
    monkeypatch.setenv("DATA_DIR", str(data_dir))
    monkeypatch.setenv("CHECKPOINTS_DIR", str(checkpoints))
    return checkpoints


@pytest.mark.parametrize("split", ["test", "val"])
def test_cli_label_issues_json_is_ranked(cli_store, capsys, split):
    assert main(["label-issues", "mnist-tiny", "--split", split, "--top", "5", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert 0 < len(rows) <= 5
    assert all(set(row) == {"index", "given", "suggested", "score", "flagged"} for row in rows)
    flags = [row["flagged"] for row in rows]
    assert flags == sorted(flags, reverse=True)  # cleanlab's flagged first, then the next most suspicious
    for flag in (True, False):
        scores = [row["score"] for row in rows if row["flagged"] == flag]
        assert scores == sorted(scores)


def test_cli_label_issues_refuses_a_bad_top(cli_store, capsys):
    assert main(["label-issues", "mnist-tiny", "--top", "0"]) == 2
    assert "--top must be at least 1" in capsys.readouterr().err


def test_cli_compare_a_run_with_itself_changes_nothing(cli_store, capsys):
    assert main(["compare", "mnist-tiny", "mnist-tiny", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["fixed"] == [] and result["broken"] == [] and result["accuracy_a"] == result["accuracy_b"]
    assert main(["compare", "mnist-tiny", "fashion-mnist-tiny"]) == 1
    assert "is on mnist" in capsys.readouterr().err


def test_cli_predict_an_image_file(cli_store, tmp_path, capsys):
    picture = Image.new("L", (64, 64), 255)
    picture.paste(0, (20, 10, 30, 54))
    path = tmp_path / "digit.png"
    picture.save(path)
    assert main(["predict", "mnist-tiny", str(path), "--json"]) == 0
    ranked = json.loads(capsys.readouterr().out)
    assert len(ranked) == 10 and sum(r["probability"] for r in ranked) == pytest.approx(1.0, abs=1e-4)
    (tmp_path / "note.png").write_bytes(b"not a picture")
    assert main(["predict", "mnist-tiny", str(tmp_path / "note.png")]) == 2
    assert "not an image in an accepted format" in capsys.readouterr().err


def test_cli_card_and_onnx(cli_store, tmp_path, capsys):
    assert main(["card", "lenet5", "--json"]) == 0
    layers = json.loads(capsys.readouterr().out)
    assert sum(layer["parameters"] for layer in layers) == 61_706
    assert main(["card", "mnist-tiny", "--onnx", str(tmp_path / "tiny.onnx")]) == 0
    assert "fashion-two-conv" in capsys.readouterr().out
    assert (tmp_path / "tiny.onnx").stat().st_size > 1000


def test_cli_embed_writes_one_row_per_test_image(cli_store, tmp_path):
    assert main(["embed", "mnist-tiny", "--output", str(tmp_path / "map.csv")]) == 0
    frame = pd.read_csv(tmp_path / "map.csv")
    assert list(frame.columns) == ["index", "x", "y", "true", "predicted"] and len(frame) == 200


def test_the_embedding_is_kept_in_the_run_folder_and_recomputed_when_stale(cli_store, monkeypatch):
    import core.analysis
    from core.analysis import run_embedding
    from core.runs import load_run

    run = load_run("mnist-tiny")
    kept = run.path / "analysis" / "embedding-pca.npz"
    kept.unlink(missing_ok=True)
    points = run_embedding(run, "pca")
    assert points.shape == (200, 2) and kept.exists()

    def no_projection(*_args, **_kwargs):
        raise AssertionError("recomputed although the saved map is valid")

    with monkeypatch.context() as patched:
        patched.setattr(core.analysis, "project", no_projection)
        assert np.array_equal(run_embedding(run, "pca"), points)
    kept.write_bytes(b"damaged")
    assert np.allclose(run_embedding(run, "pca"), points, atol=1e-4)
    stale = dict(np.load(kept))
    np.savez(kept, points=stale["points"] + 1, weights_sha256=np.array("0" * 64))
    assert np.allclose(run_embedding(run, "pca"), points, atol=1e-4)  # other weights: recomputed
    digest = np.array(run.weights_digest())
    np.savez(kept, points=points[:3], weights_sha256=digest)  # the right weights, three points for 200 images
    assert run_embedding(run, "pca").shape == (200, 2)
    # A few MB of zeros that would inflate to 3 GiB: left unread, the map made anew.
    np.savez_compressed(kept, points=points, zeros=np.zeros(2**28, np.int8), weights_sha256=digest)
    assert run_embedding(run, "pca").shape == (200, 2) and kept.stat().st_size < 2**20
    # A header claiming 10¹² points in a few bytes: numpy would try to allocate 14.6 TiB.
    claim = io.BytesIO()
    np.lib.format.write_array_header_1_0(claim, {"descr": "<f4", "fortran_order": False, "shape": (10**12, 2)})
    with zipfile.ZipFile(kept, "w") as archive:
        archive.writestr("points.npy", claim.getvalue() + b"\0" * 16)
        archive.writestr("weights_sha256.npy", _npy(digest))
    assert run_embedding(run, "pca").shape == (200, 2)
    np.savez(kept, points=np.array([["a", "b"]] * 200), weights_sha256=digest)  # text where numbers belong
    assert run_embedding(run, "pca").shape == (200, 2)
    shutil.rmtree(kept.parent)
    kept.parent.write_text("a file where the folder belongs")  # the map can't be kept, and is still drawn
    assert run_embedding(run, "pca").shape == (200, 2)
    kept.parent.unlink()


def _npy(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


def test_attribution_colours_fade_with_opacity_and_the_bar_runs_blue_to_red():
    from core.pictures import AGAINST_CLASS, FOR_CLASS, attribution_picture, colour_bar

    image = np.zeros((4, 4), dtype=np.uint8)
    values = np.full((4, 4), 1.0, dtype=np.float32)
    full = np.asarray(attribution_picture(values, image, limit=1.0, scale=1))
    none = np.asarray(attribution_picture(values, image, limit=1.0, scale=1, opacity=0.0))
    assert (full == FOR_CLASS.astype(np.uint8)).all() and (none == 255).all()
    bar = np.asarray(colour_bar(width=9, height=2))
    assert (bar[0, 0] == AGAINST_CLASS.astype(np.uint8)).all() and (bar[0, -1] == FOR_CLASS.astype(np.uint8)).all()
    assert (bar[0, 4] == 255).all()


def test_the_inspectors_label_check_and_temperature_are_kept_in_the_run(trained_store, tmp_path, monkeypatch):
    import shutil

    import core.analysis as analysis
    from core.data import load_dataset
    from core.runs import Run

    data_dir, checkpoints = trained_store
    run = Run(shutil.copytree(checkpoints / "mnist-tiny", tmp_path / "mnist-tiny"))
    data, predictions = load_dataset("mnist", data_dir), run.load_predictions()
    temperature = analysis.validation_temperature(run, data)
    ranking = analysis.stored_label_issues(run, predictions)
    assert temperature > 0 and sorted(ranking["row"]) == list(range(len(predictions.labels)))

    def not_again(*args, **kwargs):
        raise AssertionError("computed again")

    monkeypatch.setattr(analysis, "fit_temperature", not_again)
    monkeypatch.setattr(analysis, "label_issues", not_again)
    assert analysis.validation_temperature(run, data) == temperature  # read from the run folder
    assert analysis.stored_label_issues(run, predictions).equals(ranking)


def test_a_validation_split_that_cannot_pin_a_temperature_is_not_calibrated_on(trained_store, tmp_path, monkeypatch):
    import dataclasses
    import shutil

    import core.analysis as analysis
    from core.data import Split, load_dataset
    from core.evaluate import predict
    from core.runs import Run

    data_dir, checkpoints = trained_store
    run = Run(shutil.copytree(checkpoints / "mnist-tiny", tmp_path / "mnist-tiny"))
    data = load_dataset("mnist", data_dir)

    def only(rows):
        rows = torch.as_tensor(rows)
        return dataclasses.replace(
            data, val=Split(data.val.images[rows], data.val.labels[rows], data.val.indices[rows])
        )

    few = only(range(16))  # a folder of one's own, split small
    with pytest.raises(analysis.TooFewToCalibrate, match="the validation split has 16 images, too few"):
        analysis.validation_temperature(run, few)
    # The images it gets right, alone: certainty fits them best, at the search's bound.
    logits = predict(run.load_model(), data.val.images, run.config.mean, run.config.std)
    right = torch.nonzero(logits.argmax(1) == data.val.labels).flatten().tolist()
    monkeypatch.setattr(analysis, "MIN_CALIBRATION_IMAGES", len(right))  # enough images, none of them wrong
    with pytest.raises(analysis.TooFewToCalibrate, match=f"its 0 errors among the validation split's {len(right)}"):
        analysis.validation_temperature(run, only(right))


def test_a_model_as_sure_as_it_is_wrong_is_not_calibrated_and_the_reason_says_so(trained_store, tmp_path, monkeypatch):
    import shutil

    import core.analysis as analysis
    import core.evaluate
    from core.data import load_dataset
    from core.runs import Predictions, Run

    data_dir, checkpoints = trained_store
    run = Run(shutil.copytree(checkpoints / "mnist-tiny", tmp_path / "mnist-tiny"))
    data = load_dataset("mnist", data_dir)
    labels = data.val.labels.numpy()
    sure_and_wrong = np.full((len(labels), 10), 0.001, np.float32)
    sure_and_wrong[np.arange(len(labels)), (labels + 1) % 10] = 0.991  # weights for another dataset, say
    given = Predictions(sure_and_wrong, labels, np.arange(len(labels)))
    monkeypatch.setattr(core.evaluate, "split_predictions", lambda *args, **kwargs: given)
    with pytest.raises(analysis.TooFewToCalibrate, match=f"it is wrong on {len(labels)} of the validation split"):
        analysis.validation_temperature(run, data)


def test_the_model_card_names_the_config_a_users_loop_gave():
    from core.config import RunConfig
    from core.modelcard import describe_source

    config = RunConfig(dataset="mnist", model="Net", classes=tuple("0123456789"))
    config.source = {"kind": "log_run", "output": "log_probs", "hyperparameters": {"lr": 0.1, "batch": 64}}
    assert "outputs read as log_probs; your config: lr 0.1, batch 64. " in describe_source(config)
    config.source = {"kind": "log_run", "output": "logits", "hyperparameters": {}}
    assert "outputs read as logits. " in describe_source(config)
    # Trained elsewhere, perhaps on the whole training file: the validation split may be images it saw.
    assert describe_source(config).endswith("it has seen them, and they read high.")


def test_a_kept_label_check_naming_rows_past_the_split_is_made_anew(trained_store, tmp_path):
    import shutil

    from core.analysis import LABEL_CHECK_RESULT, RESULTS_FOLDER, stored_label_issues
    from core.runs import Run

    _, checkpoints = trained_store
    shutil.copytree(checkpoints / "mnist-tiny", tmp_path / "mnist-tiny")
    run = Run(tmp_path / "mnist-tiny")
    predictions = run.load_predictions()
    ranking = stored_label_issues(run, predictions)
    kept = run.path / RESULTS_FOLDER / f"{LABEL_CHECK_RESULT}.npz"
    arrays = {name: ranking[name].to_numpy() for name in ranking.columns}
    arrays["row"] = arrays["row"] + 10_000  # rows past the 200 test images: a page would index past them
    np.savez(kept, **arrays, weights_sha256=np.array(run.weights_digest()))
    again = stored_label_issues(run, predictions)
    assert again["row"].between(0, len(predictions.labels) - 1).all()
