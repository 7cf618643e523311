"""Inference and metrics: what a model got right and wrong.

``predict`` runs a model over uint8 images and returns logits; everything else here derives
from stored predictions (probabilities and labels), so pages never need the model for it.
Deeper looks that need more than the predictions (other libraries, the model's insides, results
kept in the run folder) are ``core.analysis``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch

from core.data import DatasetSplits, load_dataset, normalize
from core.models import BlockCNN
from core.runs import Predictions, Run, RunError

if TYPE_CHECKING:
    import pandas as pd


@torch.inference_mode()
def predict(
    model: torch.nn.Module,
    images: torch.Tensor,
    mean: float,
    std: float,
    batch_size: int | None = None,
    device: str | torch.device = "cpu",
) -> torch.Tensor:
    """Logits (float32, on the CPU) for uint8 images N×H×W, a batch at a time.

    The default batch is 256 on the CPU, measured here as the quickest: each batch's activations stay
    in cache. On an AVX-512 CPU our own CNNs run their convolution blocks on oneDNN's own blocked tensors
    (``onednn_split``); otherwise a channels-last model (as ``Run.load_model`` and training make them)
    avoids a layout change per layer.
    """
    model.eval()
    device = torch.device(device)
    batch_size = batch_size or (256 if device.type == "cpu" else 4096)
    forward = _batch_forward(model, device)
    outputs = [
        forward(normalize(images[start : start + batch_size].to(device, non_blocking=True), mean, std))
        for start in range(0, len(images), batch_size)
    ]
    return torch.cat(outputs) if outputs else torch.empty(0, 0)


def _batch_forward(model: torch.nn.Module, device: torch.device):
    """A function from a standardised batch to its float32 logits on the CPU."""
    split = onednn_split(model) if device.type == "cpu" else 0
    if split:
        blocks, rest = model[:split], model[split:]
        return lambda batch: rest(blocks(batch.contiguous().to_mkldnn()).to_dense())

    def forward(batch: torch.Tensor) -> torch.Tensor:
        batch = batch.contiguous(memory_format=torch.channels_last)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
            return model(batch).float().cpu()

    return forward


# On blocked tensors oneDNN runs its direct convolutions, on channels-last ones its brgemm-based ones
# (ONEDNN_VERBOSE: jit:avx512_core against brg_conv_fwd:avx512_core). The direct ones win only with AVX-512:
# with oneDNN held to AVX2 on the same CPU (ONEDNN_MAX_CPU_ISA=AVX2), the blocked path was 0.80–0.92× the
# channels-last one. Decided once per process, from the vector instructions torch dispatches to.
BLOCKED_TENSORS_PAY = torch.backends.cpu.get_cpu_capability() == "AVX512"


# Layers that run on oneDNN's blocked tensors as our blocks build them (zero padding, no pooling indices).
_BLOCKED_LAYERS = (torch.nn.Conv2d, torch.nn.BatchNorm2d, torch.nn.MaxPool2d, torch.nn.ReLU)


def onednn_split(model: torch.nn.Module) -> int:
    """How many leading blocks of one of our own CNNs (``BlockCNN``) run on oneDNN's blocked tensors.

    Kept in oneDNN's layout from one convolution to the next, the activations skip the reorders that
    channels-last costs: on the AVX-512 CPU, lean-cnn's 10,000 test predictions measured 1.08–1.17×
    faster (2 threads, two benchmark runs), with probabilities within 5·10⁻⁷ of the channels-last model's
    (docs/performance.md). Other models (the tutorials', a user's own ``forward``) and other CPUs
    (``BLOCKED_TENSORS_PAY``) keep the plain path: 0.
    """
    if not (BLOCKED_TENSORS_PAY and isinstance(model, BlockCNN)):
        return 0
    if not (torch.backends.mkldnn.is_available() and torch.backends.mkldnn.enabled):
        return 0  # oneDNN turned off (torch.backends.mkldnn.enabled = False) can't take blocked tensors
    count = 0
    for block in model:
        if not isinstance(block, torch.nn.Sequential) or not all(isinstance(layer, _BLOCKED_LAYERS) for layer in block):
            break
        count += 1
    return count


def evaluate_loss_accuracy(
    model: torch.nn.Module,
    images: torch.Tensor,
    labels: torch.Tensor,
    mean: float,
    std: float,
    device: str | torch.device = "cpu",
) -> tuple[float, float, torch.Tensor]:
    """Mean cross-entropy, accuracy and logits on one split."""
    logits = predict(model, images, mean, std, device=device)
    loss = torch.nn.functional.cross_entropy(logits, labels.cpu()).item()
    accuracy = (logits.argmax(1) == labels.cpu()).float().mean().item()
    return loss, accuracy, logits


def store_test_predictions(run: Run, model: torch.nn.Module, data: DatasetSplits, device="cpu") -> float:
    """Predict the test split, save probabilities and labels in the run, return the accuracy.

    Inputs are standardised as the run's config says (an imported model may have its own mean and std).
    """
    probs = test_probabilities(run, model, data, device)
    labels = data.test.labels.numpy()
    run.save_predictions(probs, labels, data.test.indices.numpy())
    return accuracy(labels, probs.argmax(axis=1))


def test_probabilities(run: Run, model: torch.nn.Module, data: DatasetSplits, device="cpu") -> np.ndarray:
    """Class probabilities of the test split, inputs standardised as the run's config says."""
    logits = predict(model, data.test.images, run.config.mean, run.config.std, device=device)
    return torch.softmax(logits, dim=1).numpy()


@dataclass
class Reevaluation:
    """What ``evaluate_run`` found: the accuracy now, and whether the stored predictions changed."""

    test_accuracy: float
    changed: bool
    previous_accuracy: float | None = None  # None when there were no readable predictions before
    predictions_changed: int = 0  # images whose predicted class differs from the stored one


def evaluate_run(run: Run, data_dir=None, device="cpu") -> Reevaluation:
    """Recompute a run's test predictions from its weights. Identical predictions leave the run's files
    alone (a shipped run stays unmodified in git); different ones are stored, and what changed is said."""
    model = run.load_model(device)
    data = load_dataset(run.config.dataset, data_dir)
    probs = test_probabilities(run, model, data, device)
    labels, indices = data.test.labels.numpy(), data.test.indices.numpy()
    test_accuracy = accuracy(labels, probs.argmax(axis=1))
    try:
        stored = run.load_predictions()
    except RunError:
        stored = None
    if stored is not None and _same_predictions(stored, probs, labels, indices):
        return Reevaluation(test_accuracy, changed=False, previous_accuracy=test_accuracy)
    run.save_predictions(probs, labels, indices)
    run.update_status(test_accuracy=test_accuracy)
    if stored is None or stored.probs.shape != probs.shape:
        return Reevaluation(test_accuracy, changed=True)
    moved = int((stored.predicted != probs.argmax(axis=1)).sum())
    return Reevaluation(test_accuracy, True, accuracy(stored.labels, stored.predicted), moved)


def _same_predictions(stored: Predictions, probs, labels, indices) -> bool:
    """The same images, labels and classes, and probabilities equal to float32 rounding."""
    return (
        stored.probs.shape == probs.shape
        and np.array_equal(stored.labels, labels)
        and np.array_equal(stored.indices, indices)
        and np.array_equal(stored.predicted, probs.argmax(axis=1))
        and np.allclose(stored.probs, probs, rtol=0, atol=1e-6)
    )


def split_predictions(
    run: Run, split: str = "test", data_dir=None, device="cpu", data: DatasetSplits | None = None
) -> Predictions:
    """Out-of-sample predictions of a run: the stored test ones, or the validation split's, computed now
    (on ``data`` when the caller holds the dataset already)."""
    if split == "test":
        return run.load_predictions()
    if split != "val":
        raise ValueError("split must be 'test' or 'val' (the training images are not out of sample)")
    model = run.load_model(device)
    data = data or load_dataset(run.config.dataset, data_dir)
    logits = predict(model, data.val.images, run.config.mean, run.config.std, device=device)
    return Predictions(
        torch.softmax(logits, dim=1).numpy(), data.val.labels.numpy().astype(np.int64), data.val.indices.numpy()
    )


# --- metrics from stored predictions ---------------------------------------------------


def accuracy(labels: np.ndarray, predicted: np.ndarray) -> float:
    return float(np.mean(np.asarray(labels) == np.asarray(predicted))) if len(labels) else float("nan")


def confusion_matrix(labels: np.ndarray, predicted: np.ndarray, num_classes: int) -> np.ndarray:
    """Counts, rows = true class, columns = predicted class."""
    from sklearn.metrics import confusion_matrix  # here, not at the top: training never needs scikit-learn

    return confusion_matrix(labels, predicted, labels=np.arange(num_classes))


def normalize_rows(matrix: np.ndarray) -> np.ndarray:
    """Each row divided by its total (the rate of each prediction per true class); empty rows stay 0."""
    totals = matrix.sum(axis=1, keepdims=True)
    return np.divide(matrix, totals, out=np.zeros(matrix.shape, dtype=float), where=totals > 0)


def per_class_report(labels: np.ndarray, predicted: np.ndarray, class_names: list[str]) -> pd.DataFrame:
    """Precision, recall, F1 and support of each class."""
    import pandas as pd
    from sklearn.metrics import precision_recall_fscore_support

    precision, recall, f1, support = precision_recall_fscore_support(
        labels, predicted, labels=np.arange(len(class_names)), zero_division=0
    )
    return pd.DataFrame({"class": class_names, "precision": precision, "recall": recall, "f1": f1, "support": support})


def confused_pairs(matrix: np.ndarray, class_names: list[str], top: int | None = None) -> pd.DataFrame:
    """Off-diagonal cells, most errors first: true, predicted, count, and rate within the true class."""
    import pandas as pd

    rates = normalize_rows(matrix)
    rows = [
        (true, pred, class_names[true], class_names[pred], int(matrix[true, pred]), float(rates[true, pred]))
        for true in range(len(matrix))
        for pred in range(len(matrix))
        if true != pred and matrix[true, pred] > 0
    ]
    rows.sort(key=lambda row: (-row[4], row[0], row[1]))
    frame = pd.DataFrame(rows, columns=["true", "predicted", "true_name", "predicted_name", "count", "rate"])
    return frame.head(top) if top is not None else frame


def confusion_order(matrix: np.ndarray) -> np.ndarray:
    """An order of the classes in which those often confused with each other sit side by side.

    The errors both ways between two classes, as a share of their images, are their similarity;
    average-linkage clustering on it, with the leaves in optimal order, lays similar classes next to
    each other, so a 47×47 matrix's errors gather near its diagonal in blocks.
    """
    from scipy.cluster.hierarchy import leaves_list, linkage, optimal_leaf_ordering
    from scipy.spatial.distance import squareform

    count = len(matrix)
    rates = normalize_rows(matrix)
    similarity = rates + rates.T
    np.fill_diagonal(similarity, 0.0)
    if count < 3 or similarity.max() <= 0:
        return np.arange(count)
    distance = 1.0 - similarity / similarity.max()
    np.fill_diagonal(distance, 0.0)
    condensed = squareform(distance, checks=False)
    return leaves_list(optimal_leaf_ordering(linkage(condensed, method="average"), condensed))


def most_confused_classes(matrix: np.ndarray, count: int) -> np.ndarray:
    """The ``count`` classes with the most errors, made or suffered (off-diagonal row plus column sums)."""
    errors = matrix.sum(axis=0) + matrix.sum(axis=1) - 2 * np.diag(matrix)
    return np.sort(np.argsort(-errors, kind="stable")[:count])


def cell_predictions(probs: np.ndarray, labels: np.ndarray, true_class: int, predicted_class: int) -> np.ndarray:
    """Row numbers of one confusion-matrix cell: images of ``true_class`` predicted as ``predicted_class``
    (on the diagonal, the correct ones), most confident first."""
    return select_predictions(probs, labels, true_class, predicted_class, include_correct=True)


SORTS = ("wrong_confidence", "true_probability")


def select_predictions(
    probs: np.ndarray,
    labels: np.ndarray,
    true_class: int | None = None,
    predicted_class: int | None = None,
    include_correct: bool = False,
    sort: str = "wrong_confidence",
) -> np.ndarray:
    """Row numbers of the predictions that match the filters (None = any class), ordered by ``sort``.

    ``wrong_confidence``: the model's confidence in its answer, highest first (its worst mistakes
    first). ``true_probability``: the probability it gave the true class, lowest first.
    """
    if sort not in SORTS:
        raise ValueError(f"sort must be one of {SORTS}")
    predicted = probs.argmax(axis=1)
    keep = np.ones(len(labels), dtype=bool) if include_correct else predicted != labels
    if true_class is not None:
        keep &= labels == true_class
    if predicted_class is not None:
        keep &= predicted == predicted_class
    rows = np.flatnonzero(keep)
    key = -probs[rows, predicted[rows]] if sort == "wrong_confidence" else probs[rows, labels[rows]]
    return rows[np.argsort(key, kind="stable")]


def prediction_details(rows: np.ndarray, predictions: Predictions, class_names) -> pd.DataFrame:
    """One line per image in ``rows`` (in that order): test index, true and predicted class, probabilities."""
    import pandas as pd

    probs, labels = predictions.probs, predictions.labels
    predicted = probs[rows].argmax(axis=1)
    return pd.DataFrame(
        {
            "test index": predictions.indices[rows],
            "true": [class_names[c] for c in labels[rows]],
            "predicted": [class_names[c] for c in predicted],
            "confidence": probs[rows, predicted],
            "p(true)": probs[rows, labels[rows]],
        }
    )


@dataclass
class Evaluation:
    """The metrics of one set of predictions."""

    accuracy: float
    confusion: np.ndarray
    report: pd.DataFrame
    pairs: pd.DataFrame

    @classmethod
    def from_predictions(cls, predictions: Predictions, class_names) -> Evaluation:
        probs, labels = predictions.probs, predictions.labels
        predicted = probs.argmax(axis=1)
        matrix = confusion_matrix(labels, predicted, len(class_names))
        return cls(
            accuracy=accuracy(labels, predicted),
            confusion=matrix,
            report=per_class_report(labels, predicted, class_names),
            pairs=confused_pairs(matrix, class_names),
        )
