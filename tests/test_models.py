import pytest
import torch

from core import create_model, list_models
from core.models import MODELS, UnknownModelError, count_params

# The parameter counts of the tutorials' architectures (input 1×28×28, 10 classes).
TUTORIAL_PARAMS = {
    "mlp": 623_290,
    "one-conv": 934_798,
    "lenet5": 61_706,
    "two-conv-dropout": 421_642,
    "fashion-two-conv": 28_938,
    "pytorch-example": 21_840,
    "two-conv-fc3": 3_761_034,
}


def test_registry_holds_every_tutorial_architecture_and_ours():
    names = list_models()
    assert set(TUTORIAL_PARAMS) <= set(names)
    assert set(names) - set(TUTORIAL_PARAMS) == {"quick-cnn", "strong-cnn"}


@pytest.mark.parametrize("name", list(TUTORIAL_PARAMS))
def test_tutorial_parameter_counts(name):
    assert count_params(create_model(name)) == TUTORIAL_PARAMS[name]
    assert MODELS[name].num_params == TUTORIAL_PARAMS[name]


@pytest.mark.parametrize("name", list(MODELS))
def test_forward_shape_and_backward(name):
    torch.manual_seed(0)
    model = create_model(name)
    inputs = torch.randn(4, 1, 28, 28)
    logits = model(inputs)
    assert logits.shape == (4, 10)
    assert torch.isfinite(logits).all()
    logits.sum().backward()
    assert all(p.grad is not None for p in model.parameters())


def test_other_number_of_classes():
    assert create_model("strong-cnn", num_classes=3)(torch.randn(2, 1, 28, 28)).shape == (2, 3)


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
    TrainConfig(model=name, **spec.recipe.overrides()).validate()
