import dataclasses

import pytest
import torch

from core import create_model, list_models
from core.models import MODELS, UnknownModelError, classifier_layer, count_params, parameter_count

# The parameter counts of the tutorials' architectures (input 1×28×28, 10 classes).
TUTORIAL_PARAMS = {
    "mlp": 623_290,
    "one-conv": 934_798,
    "lenet5": 61_706,
    "two-conv-dropout": 421_642,
    "fashion-two-conv": 28_938,
    "pytorch-example": 21_840,
    "two-conv-fc3": 3_761_034,
    "pytorch-examples-mnist": 1_199_882,
}


def test_registry_holds_every_tutorial_architecture():
    assert set(TUTORIAL_PARAMS) <= set(list_models())


@pytest.mark.parametrize("name", list(TUTORIAL_PARAMS))
def test_tutorial_parameter_counts(name):
    assert count_params(create_model(name)) == TUTORIAL_PARAMS[name]
    assert parameter_count(name) == TUTORIAL_PARAMS[name]


@pytest.mark.parametrize("name", list(MODELS))
def test_forward_shape_and_backward(name):
    torch.manual_seed(0)
    model = create_model(name)
    inputs = torch.randn(4, *MODELS[name].input_shape)
    logits = model(inputs)
    assert logits.shape == (4, 10)
    assert torch.isfinite(logits).all()
    logits.sum().backward()
    assert all(p.grad is not None for p in model.parameters())


@pytest.mark.parametrize("name", list(MODELS))
def test_the_declared_classifier_makes_the_logits(name):
    """The named head exists, is a Linear with one output per class, and its output is the model's."""
    model = create_model(name, num_classes=7).eval()
    head = classifier_layer(name, model)
    assert isinstance(head, torch.nn.Linear) and head.out_features == 7
    seen = []
    hook = head.register_forward_hook(lambda _module, _inputs, output: seen.append(output))
    logits = model(torch.randn(2, *MODELS[name].input_shape))
    hook.remove()
    # The model's output is the head's, or (as the tutorials end) its log_softmax.
    assert len(seen) == 1 and (torch.equal(seen[0], logits) or torch.allclose(seen[0].log_softmax(1), logits))


def test_a_classifier_that_is_not_linear_is_refused(monkeypatch):
    spec = dataclasses.replace(MODELS["mlp"], classifier="2")  # the ReLU
    monkeypatch.setitem(MODELS, "mlp", spec)
    with pytest.raises(TypeError, match="ReLU"):
        classifier_layer("mlp", create_model("mlp"))


def test_other_number_of_classes():
    for name in ("strong-cnn", "lean-cnn"):
        assert create_model(name, num_classes=3)(torch.randn(2, 1, 28, 28)).shape == (2, 3)


def test_unknown_model_names_the_choices():
    with pytest.raises(UnknownModelError) as error:
        create_model("resnet-9000")
    message = str(error.value)
    assert "resnet-9000" in message
    assert "two-conv-dropout" in message and "mlp" in message


@pytest.mark.parametrize("name", list(MODELS))
def test_every_model_has_a_description_and_a_valid_recipe(name):
    from core.config import TrainConfig

    spec = MODELS[name]
    assert spec.description and spec.recipe.source
    TrainConfig(model=name, **spec.recipe.config_values()).validate()
