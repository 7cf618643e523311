import numpy as np
import pytest
from sklearn.metrics import accuracy_score, classification_report
from sklearn.metrics import confusion_matrix as sk_confusion_matrix

from core.evaluate import (
    Evaluation,
    accuracy,
    cell_predictions,
    confused_pairs,
    confusion_matrix,
    normalize_rows,
    per_class_report,
    select_predictions,
)
from core.runs import Predictions

CLASSES = ["a", "b", "c"]


def random_predictions(seed=0, count=500, num_classes=10):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, num_classes, count)
    logits = rng.normal(size=(count, num_classes)) + 2.5 * np.eye(num_classes)[labels]
    probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    return probs.astype(np.float32), labels


def test_hand_counted_case():
    labels = np.array([0, 0, 0, 1, 1, 2])
    predicted = np.array([0, 1, 1, 1, 0, 2])
    matrix = confusion_matrix(labels, predicted, 3)
    assert matrix.tolist() == [[1, 2, 0], [1, 1, 0], [0, 0, 1]]
    assert accuracy(labels, predicted) == pytest.approx(3 / 6)
    assert normalize_rows(matrix)[0].tolist() == pytest.approx([1 / 3, 2 / 3, 0])
    report = per_class_report(labels, predicted, CLASSES)
    # class a: precision 1/2, recall 1/3; class b: precision 1/3, recall 1/2
    assert report["precision"].tolist() == pytest.approx([1 / 2, 1 / 3, 1])
    assert report["recall"].tolist() == pytest.approx([1 / 3, 1 / 2, 1])
    pairs = confused_pairs(matrix, CLASSES)
    assert list(zip(pairs.true_name, pairs.predicted_name, pairs["count"], strict=True)) == [
        ("a", "b", 2),
        ("b", "a", 1),
    ]


def test_metrics_match_scikit_learn():
    probs, labels = random_predictions()
    predicted = probs.argmax(1)
    names = [str(i) for i in range(10)]
    evaluation = Evaluation.from_predictions(Predictions(probs, labels, np.arange(len(labels))), names)
    assert evaluation.accuracy == pytest.approx(accuracy_score(labels, predicted))
    assert np.array_equal(evaluation.confusion, sk_confusion_matrix(labels, predicted, labels=range(10)))
    reference = classification_report(labels, predicted, output_dict=True, zero_division=0)
    for row in evaluation.report.itertuples():
        assert row.precision == pytest.approx(reference[row._1]["precision"])
        assert row.recall == pytest.approx(reference[row._1]["recall"])
        assert row.f1 == pytest.approx(reference[row._1]["f1-score"])
        assert row.support == reference[row._1]["support"]


def test_row_normalised_rates_sum_to_one_and_empty_rows_stay_zero():
    matrix = np.array([[3, 1], [0, 0]])
    rates = normalize_rows(matrix)
    assert rates.tolist() == [[0.75, 0.25], [0.0, 0.0]]


def test_confused_pairs_are_every_off_diagonal_cell_ranked():
    probs, labels = random_predictions(seed=1)
    matrix = confusion_matrix(labels, probs.argmax(1), 10)
    pairs = confused_pairs(matrix, [str(i) for i in range(10)])
    expected = sorted(
        ((matrix[t, p], t, p) for t in range(10) for p in range(10) if t != p and matrix[t, p]),
        key=lambda x: (-x[0], x[1], x[2]),
    )
    assert list(zip(pairs["count"], pairs.true, pairs.predicted, strict=True)) == expected
    assert confused_pairs(matrix, [str(i) for i in range(10)], top=3).shape[0] == 3
    row = pairs.iloc[0]
    assert row.rate == pytest.approx(matrix[row.true, row.predicted] / matrix[row.true].sum())


def test_cell_predictions_most_confident_first():
    probs, labels = random_predictions(seed=2)
    predicted = probs.argmax(1)
    true_class, predicted_class = 3, 5
    rows = cell_predictions(probs, labels, true_class, predicted_class)
    assert set(rows.tolist()) == set(np.flatnonzero((labels == 3) & (predicted == 5)).tolist())
    confidences = probs[rows, predicted_class]
    assert (np.diff(confidences) <= 0).all()
    assert len(cell_predictions(probs, labels, 3, 3)) == (labels[predicted == 3] == 3).sum()


@pytest.mark.parametrize("include_correct", [False, True])
@pytest.mark.parametrize(("true_class", "predicted_class"), [(None, None), (3, None), (None, 5), (3, 5), (4, 4)])
def test_select_predictions_matches_a_brute_force_filter(true_class, predicted_class, include_correct):
    probs, labels = random_predictions(seed=3)
    predicted = probs.argmax(1)
    expected = {
        i
        for i in range(len(labels))
        if (include_correct or predicted[i] != labels[i])
        and true_class in (None, labels[i])
        and predicted_class in (None, predicted[i])
    }
    rows = select_predictions(probs, labels, true_class, predicted_class, include_correct)
    assert set(rows.tolist()) == expected and len(rows) == len(expected)
    assert (np.diff(probs[rows, predicted[rows]]) <= 0).all()
    by_true = select_predictions(probs, labels, true_class, predicted_class, include_correct, sort="true_probability")
    assert set(by_true.tolist()) == expected
    assert (np.diff(probs[by_true, labels[by_true]]) >= 0).all()


def test_select_predictions_refuses_an_unknown_sort():
    probs, labels = random_predictions()
    with pytest.raises(ValueError, match="sort must be one of"):
        select_predictions(probs, labels, sort="random")


# --- predictions on oneDNN's blocked tensors ------------------------------------------------


def _with_trained_statistics(model, seed=0):
    """A model whose BatchNorm layers hold statistics other than 0 and 1, as a trained one does."""
    import torch

    generator = torch.Generator().manual_seed(seed)
    for layer in model.modules():
        if isinstance(layer, torch.nn.BatchNorm2d):
            layer.running_mean.copy_(torch.randn(layer.num_features, generator=generator) * 0.2)
            layer.running_var.copy_(torch.rand(layer.num_features, generator=generator) + 0.5)
            layer.weight.data.copy_(torch.randn(layer.num_features, generator=generator))
    return model.eval()


@pytest.fixture
def blocked_tensors_pay(monkeypatch):
    """The blocked path taken whatever this CPU's vector instructions (it pays only with AVX-512)."""
    monkeypatch.setattr("core.evaluate.BLOCKED_TENSORS_PAY", True)


@pytest.mark.parametrize("name", ["quick-cnn", "small-cnn", "fast-cnn", "strong-cnn", "lean-cnn"])
def test_our_cnns_predict_on_blocked_tensors_as_the_plain_model_does(name, blocked_tensors_pay):
    import torch

    from core.evaluate import onednn_split, predict
    from core.models import MODELS

    if not torch.backends.mkldnn.is_available():
        pytest.skip("this torch has no oneDNN")
    torch.manual_seed(0)
    model = _with_trained_statistics(MODELS[name].builder(10)).to(memory_format=torch.channels_last)
    images = torch.randint(0, 256, (300, 28, 28), dtype=torch.uint8)
    assert onednn_split(model) >= 3  # every convolution block, not the flattening head
    logits = predict(model, images, 0.13, 0.31, batch_size=128)
    with torch.inference_mode():
        standardised = ((images.float() / 255 - 0.13) / 0.31).unsqueeze(1)
        plain = model(standardised.contiguous(memory_format=torch.channels_last))
    assert logits.shape == (300, 10)
    torch.testing.assert_close(logits, plain, rtol=0, atol=1e-4)


@pytest.mark.parametrize("name", ["two-conv-dropout", "lenet5", "pytorch-examples-mnist", "mlp"])
def test_the_tutorials_models_keep_the_plain_path(name, blocked_tensors_pay):
    from core.evaluate import onednn_split
    from core.models import MODELS

    assert onednn_split(MODELS[name].builder(10)) == 0


def test_without_avx512_our_cnns_keep_the_plain_path(monkeypatch):
    from core.evaluate import onednn_split
    from core.models import MODELS

    monkeypatch.setattr("core.evaluate.BLOCKED_TENSORS_PAY", False)
    assert onednn_split(MODELS["lean-cnn"].builder(10)) == 0


def test_with_onednn_turned_off_our_cnns_predict_on_the_plain_path(blocked_tensors_pay):
    import torch

    from core.evaluate import onednn_split, predict
    from core.models import MODELS

    model = MODELS["fast-cnn"].builder(10).eval()
    images = torch.randint(0, 256, (20, 28, 28), dtype=torch.uint8)
    torch.backends.mkldnn.enabled = False
    try:
        assert onednn_split(model) == 0
        assert predict(model, images, 0.13, 0.31).shape == (20, 10)
    finally:
        torch.backends.mkldnn.enabled = True
