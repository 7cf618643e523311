"""Looking inside a run: likely label errors, the embedding map, saliency, run-against-run, one image.

Each function takes arrays or a model and returns plain data (NumPy, pandas); the pages and
the CLI draw it. Libraries do the real work: cleanlab ranks label issues, scikit-learn projects
features, captum computes attributions.

    issues = label_issues(probs, labels)               # best first
    features = penultimate_features(model, images, mean, std)
    points = project(features, "pca")
    maps = attributions(model, image, mean, std, targets=[3, 5], method="integrated-gradients")
    diff = compare_runs(probs_a, probs_b, labels)
"""

from __future__ import annotations

import hashlib
import json
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from core.data import DatasetSplits, load_dataset, normalize
from core.evaluate import confusion_matrix, per_class_report, predict
from core.runs import WEIGHTS_FILE, Run
from core.storage import atomic_write_json, atomic_write_with

# --- likely label errors ------------------------------------------------------------------------


def label_issues(probs: np.ndarray, labels: np.ndarray) -> pd.DataFrame:
    """Every image ranked by how likely its given label is wrong (cleanlab's confident learning), most first.

    ``probs`` must be out-of-sample (test or validation predictions of a model that never trained on
    them). Columns: ``row`` (position in the arrays), ``given``, ``suggested`` (the model's class),
    ``score`` (cleanlab's label quality, lower = more likely wrong) and ``flagged``: whether cleanlab
    counts the image among the split's label errors. Flagged images come first.
    """
    from cleanlab.filter import find_label_issues
    from cleanlab.rank import get_label_quality_scores

    labels = np.asarray(labels, dtype=np.int64)
    columns = ["row", "given", "suggested", "score", "flagged"]
    if len(labels) == 0:
        return pd.DataFrame(columns=columns)
    calibrated = temperature_scaled(probs, labels)
    # n_jobs=1: no worker processes inside a web server; a 10,000-image split takes well under a second.
    flagged_rows = find_label_issues(labels, calibrated, return_indices_ranked_by="self_confidence", n_jobs=1)
    scores = get_label_quality_scores(labels, calibrated, method="self_confidence")
    flagged = np.zeros(len(labels), dtype=bool)
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


def temperature_scaled(probs: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Probabilities re-calibrated with the one temperature that best fits these labels (lowest NLL).

    cleanlab compares each probability with its class's average confidence; a model trained with
    label smoothing is under-confident everywhere (its top probability rarely passes 0.9), and
    uncalibrated it would be judged to have no label errors at all.
    """
    from scipy.optimize import minimize_scalar

    log_probs = np.log(np.clip(np.asarray(probs, dtype=np.float64), 1e-12, 1.0))
    rows = np.arange(len(labels))

    def scaled(temperature: float) -> np.ndarray:
        logits = log_probs / temperature
        return logits - np.logaddexp.reduce(logits, axis=1, keepdims=True)

    fit = minimize_scalar(lambda t: -scaled(t)[rows, labels].mean(), bounds=(0.05, 20.0), method="bounded")
    return np.exp(scaled(fit.x))


REVIEW_VERDICTS = ("wrong", "fine")


@dataclass
class LabelReviews:
    """People's verdicts on flagged labels, one JSON file per dataset beside the data.

    ``{"test": {"1234": "wrong", ...}, "val": {...}}``; keys are indices in the split's file.
    """

    path: Path

    def load(self) -> dict[str, dict[str, str]]:
        try:
            value = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        if not isinstance(value, dict):
            return {}
        return {
            split: {str(k): v for k, v in marks.items() if v in REVIEW_VERDICTS}
            for split, marks in value.items()
            if isinstance(marks, dict)
        }

    def mark(self, split: str, index: int, verdict: str | None) -> None:
        """Record a verdict (``None`` forgets it)."""
        if verdict is not None and verdict not in REVIEW_VERDICTS:
            raise ValueError(f"verdict must be one of {REVIEW_VERDICTS}")
        reviews = self.load()
        marks = reviews.setdefault(split, {})
        if verdict is None:
            marks.pop(str(int(index)), None)
        else:
            marks[str(int(index))] = verdict
        atomic_write_json(self.path, reviews)


def label_reviews(data_dir: Path, folder: str) -> LabelReviews:
    return LabelReviews(Path(data_dir) / folder / "label-reviews.json")


# --- embedding map ------------------------------------------------------------------------------


def _classifier_layer(model: torch.nn.Module) -> torch.nn.Linear:
    linears = [module for module in model.modules() if isinstance(module, torch.nn.Linear)]
    if not linears:
        raise ValueError("the model has no Linear layer to read features before")
    return linears[-1]


@torch.inference_mode()
def penultimate_features(
    model: torch.nn.Module, images: torch.Tensor, mean: float, std: float, batch_size: int | None = None
) -> np.ndarray:
    """The input of the last Linear layer (the features the classifier separates), N×D float32."""
    captured: list[torch.Tensor] = []
    hook = _classifier_layer(model).register_forward_hook(lambda _m, inputs, _o: captured.append(inputs[0].float()))
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
    """The 2-D map of a run's test images, kept in the run folder (``embedding-<method>.npz``).

    The file names the SHA-256 of the weights it was computed from, so it stays valid in a fresh
    clone and is recomputed when the weights change; a damaged file is recomputed too.
    """
    digest = hashlib.sha256((run.path / WEIGHTS_FILE).read_bytes()).hexdigest()
    cache = run.path / f"embedding-{method}.npz"
    try:
        with np.load(cache, allow_pickle=False) as saved:
            points, saved_digest = saved["points"], str(saved["weights_sha256"])
        if saved_digest == digest and points.ndim == 2 and points.shape[1] == 2 and np.isfinite(points).all():
            return points.astype(np.float32)
    except (OSError, KeyError, ValueError, EOFError, zipfile.BadZipFile):
        pass
    data = data or load_dataset(run.config["dataset"], data_dir)
    features = penultimate_features(run.load_model(), data.test.images, data.info.mean, data.info.std)
    points = project(features, method)
    atomic_write_with(cache, lambda handle: np.savez(handle, points=points, weights_sha256=np.array(digest)))
    return points


# --- saliency -----------------------------------------------------------------------------------

ATTRIBUTION_METHODS = ("integrated-gradients", "saliency", "occlusion")


def attributions(
    model: torch.nn.Module,
    image: np.ndarray | torch.Tensor,
    mean: float,
    std: float,
    targets: list[int],
    method: str = "integrated-gradients",
) -> np.ndarray:
    """One 28×28 attribution map per target class for one uint8 image (captum); positive = for the class."""
    from captum.attr import IntegratedGradients, Occlusion, Saliency

    if method not in ATTRIBUTION_METHODS:
        raise ValueError(f"unknown method {method!r}; choose one of: {', '.join(ATTRIBUTION_METHODS)}")
    model.eval()
    pixels = torch.as_tensor(np.asarray(image), dtype=torch.uint8).reshape(1, 28, 28)
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
    return maps.detach().reshape(len(targets), 28, 28).numpy()


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


# --- one image ----------------------------------------------------------------------------------


def classify_image(model: torch.nn.Module, image: np.ndarray, mean: float, std: float) -> np.ndarray:
    """Class probabilities for one 28×28 uint8 image."""
    logits = predict(model, torch.as_tensor(np.asarray(image), dtype=torch.uint8).reshape(1, 28, 28), mean, std)
    return torch.softmax(logits, dim=1)[0].numpy()
