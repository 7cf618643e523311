"""Chart builders: a DataFrame in, a chart out, for any number of classes."""

import pytest

from dashboard.charts import CLASS_PALETTE, class_colors, class_scale


def test_every_class_gets_its_own_colour_past_ten():
    for count in (2, 10, 26, 47):
        colors = class_colors(count)
        assert len(colors) == count and len(set(colors)) == count
        assert all(color.startswith("#") and len(color) == 7 for color in colors)
    assert class_colors(47)[:10] == CLASS_PALETTE  # the familiar ten stay where they were


def test_the_class_scale_has_a_colour_for_every_name():
    names = [f"class {i}" for i in range(47)]
    scale = class_scale(names).to_dict()
    assert scale["domain"] == names and len(scale["range"]) == 47


def test_smoothing_is_tensorboard_s_debiased_moving_average():
    from core.history import smooth

    assert smooth([1.0, 2.0, 3.0], 0.0) == [1.0, 2.0, 3.0]
    flat = smooth([5.0] * 4, 0.9)
    assert flat == pytest.approx([5.0] * 4)  # debiased: a flat curve stays flat from its first point
    steps = smooth([0.0, 10.0], 0.5)
    assert steps[1] == pytest.approx((0.5 * 0.5 * 0 + 0.5 * 10) / (1 - 0.25))
