"""Looking inside a run: likely label errors, the embedding map, saliency, run-against-run, one image.

Where ``core.evaluate`` reads the stored predictions, this module looks deeper: with other
libraries (cleanlab ranks label issues, scikit-learn projects features, captum computes
attributions), with the model's insides, and with results worth keeping in the run folder. Each
function takes arrays or a model and returns plain data (NumPy, pandas); the pages and the CLI
draw it. A result that is costly to compute is kept one way: ``stored_result`` (CONTRIBUTING.md).

    issues = label_issues(probs, labels)               # best first
    features = penultimate_features(model, classifier, images, mean, std)
    points = project(features, "pca")
    maps = attributions(model, image, mean, std, targets=[3, 5], method="occlusion")
    diff = compare_runs(probs_a, probs_b, labels, class_names)
"""

from __future__ import annotations

import contextlib
import fcntl
import io
import json
import os
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from core.config import RunConfig
from core.data import DatasetInfo, DatasetSplits, load_dataset, normalize
from core.evaluate import confusion_matrix, per_class_report, predict
from core.models import classifier_layer
from core.runs import Predictions, Run, RunError, read_npz_arrays
from core.storage import atomic_write_json, atomic_write_with, read_regular_file

if TYPE_CHECKING:
    import pandas as pd

# --- likely label errors ------------------------------------------------------------------------


def label_issues(probs: np.ndarray, labels: np.ndarray) -> pd.DataFrame:
    """Every image ranked by how likely its given label is wrong (cleanlab's confident learning), most first.

    ``probs`` must be out-of-sample (test or validation predictions of a model that never trained on
    them). Columns: ``row`` (position in the arrays), ``given``, ``suggested`` (the model's class),
    ``score`` (cleanlab's label quality, lower = more likely wrong) and ``flagged``: whether cleanlab
    counts the image among the split's label errors. Flagged images come first. On a split too small to
    judge (``label_check_problem``) none is flagged, and the score is the model's probability of the label.
    """
    import pandas as pd
    from cleanlab.filter import find_label_issues
    from cleanlab.rank import get_label_quality_scores

    labels = np.asarray(labels, dtype=np.int64)
    columns = ["row", "given", "suggested", "score", "flagged"]
    if len(labels) == 0:
        return pd.DataFrame(columns=columns)
    flagged = np.zeros(len(labels), dtype=bool)
    if label_check_problem(labels):
        scores = np.asarray(probs)[np.arange(len(labels)), labels]
    else:
        calibrated = temperature_scaled(probs, labels)
        # n_jobs=1: no worker processes inside a web server; a 10,000-image split takes well under a second.
        flagged_rows = find_label_issues(labels, calibrated, return_indices_ranked_by="self_confidence", n_jobs=1)
        scores = get_label_quality_scores(labels, calibrated, method="self_confidence")
        flagged[flagged_rows] = True
    order = np.lexsort((scores, ~flagged))  # flagged first, each part by score
    return pd.DataFrame(
        {
            "row": order,
            "given": labels[order],
            "suggested": np.asarray(probs)[order].argmax(axis=1),
            "score": scores[order],
            "flagged": flagged[order],
        },
        columns=columns,
    )


def label_check_problem(labels: np.ndarray) -> str | None:
    """Why a split can't have its labels judged, or None. The check fits a temperature to the split and
    estimates each class's confidence threshold from its images: a handful of images set both by chance
    (and cleanlab refuses labels of a single class outright)."""
    if len(labels) < MIN_CALIBRATION_IMAGES:
        return f"{len(labels):,} images are too few to judge labels by (at least {MIN_CALIBRATION_IMAGES} are needed)"
    if len(np.unique(labels)) < 2:
        return "its images are all of one class, and cleanlab judges labels by comparing classes"
    return None


def temperature_scaled(probs: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Probabilities re-calibrated with the one temperature that best fits these labels (lowest NLL).

    cleanlab compares each probability with its class's average confidence; a model trained with
    label smoothing is under-confident everywhere (its top probability rarely passes 0.9), and
    uncalibrated it would be judged to have no label errors at all.
    """
    return with_temperature(probs, fit_temperature(probs, labels))


def fit_temperature(probs: np.ndarray, labels: np.ndarray) -> float:
    """The temperature T that makes softmax(log p / T) fit ``labels`` best (lowest negative log-likelihood):
    above 1 for an over-confident model, below 1 for an under-confident one (label smoothing)."""
    from scipy.optimize import minimize_scalar

    log_probs = _log(probs)
    rows, labels = np.arange(len(labels)), np.asarray(labels, dtype=np.int64)
    fit = minimize_scalar(
        lambda t: -_log_softmax(log_probs / t)[rows, labels].mean(), bounds=TEMPERATURE_BOUNDS, method="bounded"
    )
    return float(fit.x)


TEMPERATURE_RESULT = "temperature"
LABEL_CHECK_RESULT = "label-issues-test"
# Fewer validation images than this and one fitted temperature says more about the few than about the model.
MIN_CALIBRATION_IMAGES = 50
TEMPERATURE_BOUNDS = (0.05, 20.0)


class TooFewToCalibrate(RunError):
    """A validation split too small for a temperature fitted on it to mean anything."""


def validation_temperature(run: Run, data: DatasetSplits) -> float:
    """The temperature that calibrates the run, fitted on its validation split; kept in the run folder.
    Raises TooFewToCalibrate on a split of fewer than ``MIN_CALIBRATION_IMAGES``."""
    from core.evaluate import split_predictions

    if len(data.val.labels) < MIN_CALIBRATION_IMAGES:
        raise TooFewToCalibrate(
            f"the validation split has {len(data.val.labels):,} images, too few to calibrate on "
            f"(at least {MIN_CALIBRATION_IMAGES} are needed)"
        )

    def compute() -> dict[str, np.ndarray]:
        val = split_predictions(run, "val", data=data)
        temperature = fit_temperature(val.probs, val.labels)
        errors = int((val.probs.argmax(axis=1) != val.labels).sum())
        low, high = (abs(np.log(temperature / bound)) < 0.01 for bound in TEMPERATURE_BOUNDS)
        if low:  # no finite best: a model right on (nearly) every image fits best with certainty, T → 0
            raise TooFewToCalibrate(
                f"its {errors} errors among the validation split's {len(val.labels):,} images are too few "
                "to fit a temperature to"
            )
        if high:  # as confident as it is wrong: only T → ∞, every answer at chance, fits
            raise TooFewToCalibrate(
                f"it is wrong on {errors:,} of the validation split's {len(val.labels):,} images, however sure: "
                "no temperature makes its figures mean anything"
            )
        return {"temperature": np.array([temperature])}

    def valid(arrays: dict[str, np.ndarray]) -> bool:
        value = arrays.get("temperature")
        return value is not None and value.shape == (1,) and bool(np.isfinite(value).all() and value[0] > 0)

    return float(stored_result(run, TEMPERATURE_RESULT, compute, valid)["temperature"][0])


def stored_label_issues(run: Run, predictions: Predictions) -> pd.DataFrame:
    """``label_issues`` of the run's test predictions, kept in the run folder (cleanlab runs once per run)."""
    import pandas as pd

    columns = ("row", "given", "suggested", "score", "flagged")

    def compute() -> dict[str, np.ndarray]:
        ranking = label_issues(predictions.probs, predictions.labels)
        kinds = {"row": np.int32, "given": np.int32, "suggested": np.int32, "score": np.float32, "flagged": bool}
        return {name: ranking[name].to_numpy().astype(kinds[name]) for name in columns}

    def valid(arrays: dict[str, np.ndarray]) -> bool:
        count = len(predictions.labels)
        if not all(name in arrays and arrays[name].shape == (count,) for name in columns):
            return False
        classes = predictions.probs.shape[1]
        in_range = [(arrays["row"], count), (arrays["given"], classes), (arrays["suggested"], classes)]
        return all(values.dtype.kind in "iu" and ((values >= 0) & (values < top)).all() for values, top in in_range)

    arrays = stored_result(run, LABEL_CHECK_RESULT, compute, valid)
    return pd.DataFrame({name: arrays[name] for name in columns})


def with_temperature(probs: np.ndarray, temperature: float) -> np.ndarray:
    """``probs`` re-scaled by a temperature (``fit_temperature``): the same order, other confidences."""
    return np.exp(_log_softmax(_log(probs) / temperature))


def _log(probs: np.ndarray) -> np.ndarray:
    return np.log(np.clip(np.asarray(probs, dtype=np.float64), 1e-12, 1.0))


def _log_softmax(logits: np.ndarray) -> np.ndarray:
    return logits - np.logaddexp.reduce(logits, axis=-1, keepdims=True)


# --- what the model thinks an image looks like ----------------------------------------------------


def training_features(run: Run, data: DatasetSplits) -> np.ndarray:
    """The run's features of every training image (the training file: train and validation splits, in
    file order), each scaled to length 1 and kept as float16 (a 60,000-image file of 576 features: 69 MB)."""
    from core.leaks import training_file

    model = run.load_model()
    images = torch.from_numpy(np.ascontiguousarray(training_file(data)[0]))
    features = penultimate_features(model, classifier_of(run, model), images, run.config.mean, run.config.std)
    return _unit_rows(features).astype(np.float16)


def similar_training_images(
    run: Run, model: torch.nn.Module, image: np.ndarray, features: np.ndarray, count: int = 8
) -> tuple[np.ndarray, np.ndarray]:
    """The ``count`` training images (indices into the training file) whose features (``training_features``)
    are nearest this image's, by cosine similarity, and those similarities, nearest first."""
    query = penultimate_features(
        model, classifier_of(run, model), torch.from_numpy(image[None]), run.config.mean, run.config.std
    )
    similarity = features.astype(np.float32) @ _unit_rows(query)[0]
    nearest = np.argsort(-similarity, kind="stable")[:count]
    return nearest, similarity[nearest].astype(np.float64)


def _unit_rows(features: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(features, axis=1, keepdims=True)
    return features / np.where(norms > 0, norms, 1.0)


REVIEW_VERDICTS = ("wrong", "fine")


MAX_REVIEWS_BYTES = 16 * 2**20  # a verdict is about 20 bytes: this holds hundreds of thousands


class ReviewsUnreadable(ValueError):
    """The verdicts file can't be read; it is left as it is, and the message says why."""


@dataclass
class LabelReviews:
    """People's verdicts on flagged labels, one JSON file per dataset beside the data.

    ``{"test": {"1234": "wrong", ...}, "val": {...}}``; keys are indices in the split's file. Every
    change is made under an exclusive lock (``fcntl.flock`` on a file beside it) by reading the file,
    changing one verdict and writing it back atomically, so two people marking at once both keep
    theirs. A file that no longer parses is never overwritten: ``mark`` moves it aside first.
    """

    path: Path

    def load(self) -> dict[str, dict[str, str]]:
        """The verdicts; {} when there are none yet; ReviewsUnreadable when the file can't be read."""
        try:
            value = json.loads(read_regular_file(self.path, MAX_REVIEWS_BYTES).decode("utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError, RecursionError) as error:  # UnsafeFile and JSON errors are ValueErrors
            raise ReviewsUnreadable(f"{self.path.name} can't be read ({error})") from None
        if not isinstance(value, dict):
            raise ReviewsUnreadable(f"{self.path.name} is not a JSON object")
        return {
            split: {str(k): v for k, v in marks.items() if v in REVIEW_VERDICTS}
            for split, marks in value.items()
            if isinstance(marks, dict)
        }

    def mark(self, split: str, index: int, verdict: str | None) -> Path | None:
        """Record a verdict (``None`` forgets it). Returns where an unreadable old file was moved, if one was."""
        if verdict is not None and verdict not in REVIEW_VERDICTS:
            raise ValueError(f"verdict must be one of {REVIEW_VERDICTS}")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path.with_name(self.path.name + ".lock"), "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
            moved = None
            try:
                reviews = self.load()
            except ReviewsUnreadable:
                moved = self.path.with_name(f"{self.path.stem}.unreadable-{time.strftime('%Y%m%d-%H%M%S')}.json")
                os.replace(self.path, moved)
                reviews = {}
            marks = reviews.setdefault(split, {})
            if verdict is None:
                marks.pop(str(int(index)), None)
            else:
                marks[str(int(index))] = verdict
            atomic_write_json(self.path, reviews)
        return moved


def label_reviews(data_dir: Path, info: DatasetInfo) -> LabelReviews:
    """The verdicts on a dataset's labels, kept beside its files."""
    return LabelReviews(Path(data_dir) / info.folder / "label-reviews.json")


# --- embedding map ------------------------------------------------------------------------------


@torch.inference_mode()
def penultimate_features(
    model: torch.nn.Module,
    classifier: torch.nn.Module,
    images: torch.Tensor,
    mean: float,
    std: float,
    batch_size: int | None = None,
) -> np.ndarray:
    """The input of the ``classifier`` layer (the features it separates), N×D float32."""
    captured: list[torch.Tensor] = []
    hook = classifier.register_forward_hook(lambda _m, inputs, _o: captured.append(inputs[0].float()))
    try:
        predict(model, images, mean, std, batch_size=batch_size)
    finally:
        hook.remove()
    return torch.cat(captured).flatten(1).numpy() if captured else np.empty((0, 0), np.float32)


PROJECTIONS = ("pca", "tsne")


def project(features: np.ndarray, method: str = "pca", seed: int = 0) -> np.ndarray:
    """N×D features → N×2 points (PCA: instant; t-SNE: tens of seconds for 10,000 points)."""
    from sklearn.decomposition import PCA

    if method not in PROJECTIONS:
        raise ValueError(f"unknown projection {method!r}; choose one of: {', '.join(PROJECTIONS)}")
    features = np.asarray(features, dtype=np.float32)
    if method == "pca":
        return PCA(n_components=2, random_state=seed).fit_transform(features).astype(np.float32)
    from sklearn.manifold import TSNE

    # t-SNE on 50 principal components, as is usual: faster and less noisy than on raw features.
    reduced = PCA(n_components=min(50, *features.shape), random_state=seed).fit_transform(features)
    return TSNE(n_components=2, init="pca", random_state=seed, n_jobs=1).fit_transform(reduced).astype(np.float32)


def run_embedding(run: Run, method: str = "pca", data: DatasetSplits | None = None, data_dir=None) -> np.ndarray:
    """The 2-D map of a run's test images, kept in the run folder (``stored_result``)."""

    def compute() -> dict[str, np.ndarray]:
        splits = data or load_dataset(run.config.dataset, data_dir)
        model = run.load_model()
        features = penultimate_features(
            model, classifier_of(run, model), splits.test.images, run.config.mean, run.config.std
        )
        return {"points": project(features, method)}

    def valid(arrays: dict[str, np.ndarray]) -> bool:
        points = arrays.get("points")
        return (
            points is not None
            and points.shape == (test_images(), 2)
            and points.dtype.kind == "f"
            and bool(np.isfinite(points).all())
        )

    def test_images() -> int:
        if data is not None:
            return len(data.test)
        try:
            return len(run.load_predictions().labels)
        except RunError:  # no predictions to count by: the map is made anew
            return -1

    return stored_result(run, f"embedding-{method}", compute, valid)["points"].astype(np.float32)


def classifier_of(run: Run, model: torch.nn.Module) -> torch.nn.Module:
    """The layer whose input is the run's feature vector: the registry's classifier, or for an ONNX
    graph the tap its features output passes through."""
    tap = getattr(model, "feature_tap", None)
    return tap if tap is not None else classifier_layer(run.config.model, model)


# --- results kept in the run folder ---------------------------------------------------------------

RESULTS_FOLDER = "analysis"
MAX_RESULT_BYTES = 64 * 2**20  # an embedding map of 10,000 images is 80 kB
MAX_RESULT_INFLATED_BYTES = 256 * 2**20  # zeros compress a thousandfold: a few MB could claim gigabytes


def stored_result(
    run: Run,
    name: str,
    compute: Callable[[], dict[str, np.ndarray]],
    valid: Callable[[dict[str, np.ndarray]], bool] = lambda arrays: True,
) -> dict[str, np.ndarray]:
    """Arrays computed from a run's weights, kept in ``<run>/analysis/<name>.npz`` beside the SHA-256 of
    the weights they came from: valid in a fresh clone, recomputed when the weights change or the file
    is damaged or fails ``valid``. The one way an analysis keeps a result (no pickle; numeric arrays only).
    """
    digest = run.weights_digest()
    path = run.path / RESULTS_FOLDER / f"{name}.npz"
    try:
        arrays = _read_result(path)
        saved_digest = str(arrays.pop("weights_sha256"))
        if saved_digest == digest and valid(arrays):
            return arrays
    # Missing, odd or damaged (an array of text where numbers belong fails ``valid`` with a TypeError):
    # computed anew.
    except (OSError, KeyError, ValueError, TypeError, EOFError, zipfile.BadZipFile, RunError):
        pass
    arrays = compute()
    with contextlib.suppress(OSError):  # not kept (a file where the folder belongs, a full disk): still shown
        atomic_write_with(path, lambda handle: np.savez(handle, **arrays, weights_sha256=np.array(digest)))
    return arrays


def _read_result(path: Path) -> dict[str, np.ndarray]:
    """Every array of a kept result, each member's header checked (size, kind, claimed shape) before it is read."""
    data = read_regular_file(path, MAX_RESULT_BYTES)
    with zipfile.ZipFile(io.BytesIO(data)) as archive:  # the sizes its members claim bound what they inflate to
        if sum(member.file_size for member in archive.infolist()) > MAX_RESULT_INFLATED_BYTES:
            raise ValueError("inflates past its limit")
        names = tuple(name.removesuffix(".npy") for name in archive.namelist() if name.endswith(".npy"))
    return read_npz_arrays(data, names, path.name, kinds="biufU")


def has_stored_result(run: Run, name: str) -> bool:
    """Whether a result of this name is kept in the run folder (it may still be stale: ``stored_result`` checks)."""
    return (run.path / RESULTS_FOLDER / f"{name}.npz").is_file()


# --- saliency -----------------------------------------------------------------------------------

# The first is the default: Occlusion reads best on both datasets (whole strokes and garment parts,
# where the gradient methods look like noise on clothing), and it explains every run, ONNX ones too.
ATTRIBUTION_METHODS = ("occlusion", "integrated-gradients", "saliency")
# Occlusion needs only forward passes: what explains a model run as an ONNX graph (no gradients).
FORWARD_ONLY_METHODS = ("occlusion",)


def methods_for(model: torch.nn.Module) -> tuple[str, ...]:
    """The attribution methods that can explain ``model``: all of them, or without gradients only Occlusion."""
    return ATTRIBUTION_METHODS if getattr(model, "differentiable", True) else FORWARD_ONLY_METHODS


def attributions(
    model: torch.nn.Module,
    image: np.ndarray | torch.Tensor,
    mean: float,
    std: float,
    targets: list[int],
    method: str = ATTRIBUTION_METHODS[0],
) -> np.ndarray:
    """One H×W attribution map per target class for one uint8 H×W image (captum); positive = for the class."""
    from captum.attr import IntegratedGradients, Occlusion, Saliency

    if method not in methods_for(model):
        raise ValueError(f"method {method!r} can't explain this model; choose one of: {', '.join(methods_for(model))}")
    model = _CentredOutputs(model.eval())
    pixels = torch.as_tensor(np.asarray(image), dtype=torch.uint8)[None]
    inputs = normalize(pixels, mean, std).repeat(len(targets), 1, 1, 1)
    # The baseline is a black image (pixel 0 after normalisation), not zeros of the normalised input.
    baseline = normalize(torch.zeros_like(pixels), mean, std).expand_as(inputs)
    target = torch.as_tensor(targets)
    if method == "integrated-gradients":
        maps = IntegratedGradients(model).attribute(inputs, baselines=baseline, target=target, n_steps=32)
    elif method == "saliency":
        maps = Saliency(model).attribute(inputs, target=target, abs=False)
    else:
        maps = Occlusion(model).attribute(
            inputs, sliding_window_shapes=(1, 4, 4), strides=(1, 2, 2), baselines=baseline, target=target
        )
    return maps.detach().reshape(len(targets), *pixels.shape[1:]).numpy()


class _CentredOutputs(torch.nn.Module):
    """The model's outputs minus their mean over the classes: what the maps explain.

    Softmax ignores a shift shared by every class, so logits and ``log_softmax`` (the tutorials' ``Net``)
    are the same answer up to that shift, and both centre to the same numbers. Explaining the raw
    log-probability instead leaves a confident prediction's map flat (log p stays near 0 whatever is
    covered), and a logits model's maps would differ from its log_softmax twin's.
    """

    def __init__(self, model: torch.nn.Module):
        super().__init__()
        self.model = model

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        outputs = self.model(inputs)
        return outputs - outputs.mean(dim=1, keepdim=True)


@dataclass
class Explanation:
    """Attribution maps of one image for its predicted class and for the true class (or the runner-up)."""

    targets: list[int]  # predicted, then true (or, for a correct answer, the runner-up)
    roles: list[str]  # "predicted", then "true" or "runner-up"
    maps: np.ndarray  # one H×W map per target
    limit: float  # the largest absolute value of both: one colour scale, so that they compare


def explain(
    model: torch.nn.Module, image: np.ndarray, probs: np.ndarray, label: int, mean: float, std: float, method: str
) -> Explanation:
    """Where the model looked, for the class it chose and for the one it should have (or its second choice)."""
    predicted = int(np.argmax(probs))
    # For a correct answer, compare with the runner-up instead of the same class twice.
    other = label if label != predicted else int(np.argsort(probs)[-2])
    maps = attributions(model, image, mean, std, [predicted, other], method)
    roles = ["predicted", "true" if other == label else "runner-up"]
    return Explanation([predicted, other], roles, maps, float(np.abs(maps).max()) or 1.0)


# --- run against run ----------------------------------------------------------------------------


@dataclass
class RunComparison:
    accuracy_a: float
    accuracy_b: float
    per_class: pd.DataFrame  # class, recall_a, recall_b, delta
    confusion_delta: np.ndarray  # counts of B minus counts of A
    fixed: np.ndarray  # rows A got wrong and B right, B's most confident first
    broken: np.ndarray  # rows A got right and B wrong, B's most confident first


def compare_runs(probs_a: np.ndarray, probs_b: np.ndarray, labels: np.ndarray, class_names: list[str]) -> RunComparison:
    """Two runs' predictions on the same images: what the second one fixed and what it broke."""
    if probs_a.shape != probs_b.shape or len(labels) != len(probs_a):
        raise ValueError(f"the runs predicted different images ({probs_a.shape} and {probs_b.shape})")
    predicted_a, predicted_b = probs_a.argmax(axis=1), probs_b.argmax(axis=1)
    right_a, right_b = predicted_a == labels, predicted_b == labels
    confidence_b = probs_b.max(axis=1)

    def by_confidence(mask: np.ndarray) -> np.ndarray:
        rows = np.flatnonzero(mask)
        return rows[np.argsort(-confidence_b[rows], kind="stable")]

    import pandas as pd

    report_a = per_class_report(labels, predicted_a, class_names)
    report_b = per_class_report(labels, predicted_b, class_names)
    per_class = pd.DataFrame(
        {"class": class_names, "recall_a": report_a["recall"], "recall_b": report_b["recall"]}
    ).assign(delta=lambda frame: frame["recall_b"] - frame["recall_a"])
    num_classes = len(class_names)
    return RunComparison(
        accuracy_a=float(right_a.mean()),
        accuracy_b=float(right_b.mean()),
        per_class=per_class,
        confusion_delta=confusion_matrix(labels, predicted_b, num_classes).astype(np.int64)
        - confusion_matrix(labels, predicted_a, num_classes).astype(np.int64),
        fixed=by_confidence(~right_a & right_b),
        broken=by_confidence(right_a & ~right_b),
    )


def same_predictions(a: Predictions, b: Predictions) -> bool:
    """Whether two runs give the same probabilities for the same test images (nothing to compare)."""
    return np.array_equal(a.indices, b.indices) and np.array_equal(a.probs, b.probs)


def compare_run_predictions(
    config_a: RunConfig, predictions_a: Predictions, config_b: RunConfig, predictions_b: Predictions
) -> RunComparison:
    """``compare_runs`` for two stored runs, after checking they answered the same question: the same
    dataset and the same test images with the same labels (RunError says what differs)."""
    if config_a.dataset != config_b.dataset:
        raise RunError(f"the first run is on {config_a.dataset}, the second on {config_b.dataset}")
    if not (
        np.array_equal(predictions_a.indices, predictions_b.indices)
        and np.array_equal(predictions_a.labels, predictions_b.labels)
    ):
        raise RunError("the two runs predicted different test images (a test subset?), so they can't be compared")
    return compare_runs(predictions_a.probs, predictions_b.probs, predictions_a.labels, list(config_a.classes))


# --- one image ----------------------------------------------------------------------------------


def classify_image(model: torch.nn.Module, image: np.ndarray, mean: float, std: float) -> np.ndarray:
    """Class probabilities for one uint8 H×W image."""
    logits = predict(model, torch.as_tensor(np.asarray(image), dtype=torch.uint8)[None], mean, std)
    return torch.softmax(logits, dim=1)[0].numpy()
