"""Chart builders: a DataFrame in, a chart out, for any number of classes."""

import copy
import math

import pandas as pd
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


def test_the_difference_matrix_scales_its_colours_to_the_errors_not_the_diagonal():
    import pandas as pd

    from dashboard.charts import diverging_matrix

    cells = pd.DataFrame(
        {"true": ["a", "a", "b", "b"], "predicted": ["a", "b", "a", "b"], "delta": [81, 3, -2, 40]}
    )  # B: 81 and 40 more right on the diagonal, 3 more a→b errors (worse), 2 fewer b→a (better)
    spec = diverging_matrix(cells, ["a", "b"]).to_dict()
    scale = spec["layer"][0]["encoding"]["color"]["scale"]
    assert scale["domain"] == [-3, 0, 3] and scale["clamp"] is True  # a cell 3 worse gets the full red
    assert scale["type"] == "symlog"  # and one 1 worse, a visible share of it


def test_digits_stand_upright_under_the_matrix_and_names_turn():
    from dashboard.charts import class_axis

    assert class_axis([str(d) for d in range(10)]).to_dict()["labelAngle"] == 0
    assert class_axis(["T-shirt/top", "Trouser"]).to_dict()["labelAngle"] == -40


class _Canvas:
    """Stands in for a Streamlit container: keeps what each chart call was given."""

    def __init__(self):
        self.calls = []

    def vega_lite_chart(self, spec, **options):
        self.calls.append((copy.deepcopy(spec), options))
        spec.pop("datasets")  # as Streamlit does with the spec it is handed


def test_a_chart_is_built_once_per_input_and_each_draw_gets_a_whole_spec():
    import pandas as pd

    from dashboard.chartview import draw_chart

    built = _BUILT_ROWS
    built.clear()
    bars = _counted_bars
    canvas = _Canvas()
    frame = pd.DataFrame({"a": range(6000), "b": range(6000)})  # past Altair's default limit of 5,000 rows
    draw_chart(canvas, bars, frame)
    draw_chart(canvas, bars, frame.copy(), key="again")  # equal data: no new build
    assert built == [6000]
    (first, _), (second, options) = canvas.calls
    assert options == {"key": "again"}
    assert second == first and "datasets" in second  # the kept spec survived the first draw's changes to its copy
    draw_chart(canvas, bars, frame.head(10))
    assert built == [6000, 10]
    spec = canvas.calls[-1][0]
    assert "config" not in spec  # no default theme's fixed 300-pixel view, as st.altair_chart sends it


def test_a_selectable_chart_reruns_the_page_on_a_selection():
    import pandas as pd

    from dashboard.chartview import draw_chart

    canvas = _Canvas()
    frame = pd.DataFrame({"a": [1, 2], "b": [3, 4]})
    draw_chart(canvas, _points, frame, key="k", selection_mode="brush")
    assert canvas.calls[0][1] == {"key": "k", "on_select": "rerun", "selection_mode": "brush"}


def test_only_a_module_level_builder_is_kept_and_a_live_chart_is_not():
    import altair as alt
    import pandas as pd

    from dashboard.chartview import draw_chart

    canvas, frame = _Canvas(), pd.DataFrame({"a": [1, 2], "b": [3, 4]})
    for closure in (lambda f: alt.Chart(f).mark_point(), _points_of("b")):  # a key couldn't tell them apart
        with pytest.raises(ValueError, match="module-level"):
            draw_chart(canvas, closure, frame)
    draw_chart(canvas, _points_of("b"), frame, kept=False)  # built each time: nothing to tell apart
    assert canvas.calls[-1][0]["encoding"]["x"]["field"] == "b"


def _points(frame):
    import altair as alt

    return alt.Chart(frame).mark_point().encode(x="a")


def _points_of(column: str):
    import altair as alt

    return lambda frame: alt.Chart(frame).mark_point().encode(x=column)


_BUILT_ROWS = []  # the frame sizes _counted_bars was built for


def _counted_bars(frame):
    import altair as alt

    _BUILT_ROWS.append(len(frame))
    return alt.Chart(frame).mark_bar().encode(x="a:Q", y="b:Q")


@pytest.mark.parametrize(("epochs", "domain"), [(1, [0.5, 1.5]), (14, [0.7, 14.3])])
def test_epoch_axis_leaves_room_around_the_epochs(epochs, domain):
    """A one-epoch run's points sit mid-chart, not on the axis; a kept rule at the last epoch shows."""
    import pandas as pd

    from dashboard.charts import epoch_curves

    history = pd.DataFrame({"run": "r", "split": "validation", "epoch": range(1, epochs + 1), "value": [0.9] * epochs})
    spec = epoch_curves(history, "accuracy", pd.DataFrame({"run": ["r"], "epoch": [epochs]})).to_dict()
    x = spec["layer"][0]["encoding"]["x"]
    assert x["scale"]["domain"] == pytest.approx(domain) and x["axis"]["format"] == "d"


def test_validation_is_dashed_even_when_a_run_logged_nothing_else():
    import pandas as pd

    from dashboard.charts import epoch_curves

    history = pd.DataFrame({"run": "r", "split": "validation", "epoch": [1, 2], "value": [0.9, 0.95]})
    dash = epoch_curves(history, "accuracy", pd.DataFrame({"run": ["r"], "epoch": [2]})).to_dict()
    dash = dash["layer"][0]["encoding"]["strokeDash"]["scale"]
    assert dict(zip(dash["domain"], map(tuple, dash["range"]), strict=True))["validation"] == (6, 4)
    assert dict(zip(dash["domain"], map(tuple, dash["range"]), strict=True))["train"] == (1, 0)


def test_a_tight_percentage_never_claims_certainty_the_model_did_not_give():
    from dashboard.numbers import short_percent

    shown = [short_percent(p) for p in (1.0, 0.9999, 0.995, 0.994, 0.5, 0.004, 0.0)]
    assert shown == ["100%", ">99%", ">99%", "99%", "50%", "<1%", "0%"]


def test_class_balance_is_a_chart_per_split_as_wide_as_its_place_on_one_scale():
    from dashboard.charts import class_distribution

    counts = pd.DataFrame({"class": ["a", "b"] * 2, "split": ["train"] * 2 + ["test"] * 2, "count": [600, 400, 50, 50]})
    charts = [class_distribution(counts, ["a", "b"], split, 0.63).to_dict() for split in ("train", "test")]
    for chart in charts:  # a fixed width, or a facet's panels, ran off a narrow window
        assert "width" not in chart and "facet" not in chart and "column" not in chart["encoding"]
        assert chart["encoding"]["y"]["scale"]["domain"] == [0, 0.63]
    shares = [[row["share"] for row in chart["datasets"][chart["data"]["name"]]] for chart in charts]
    assert shares == [[0.6, 0.4], [0.5, 0.5]]


def test_the_inspectors_tenths_of_a_percent_never_round_to_certainty():
    from dashboard.charts import probability_bars
    from dashboard.numbers import tenth_percent

    shown = [tenth_percent(p) for p in (1.0, 0.99996, 0.9994, 0.5, 0.0004, 0.0)]
    assert shown == ["100.0%", ">99.9%", "99.9%", "50.0%", "<0.1%", "0.0%"]
    frame = pd.DataFrame({"class": ["0", "8"], "probability": [0.99996, 0.00004]})
    chart = probability_bars(frame, ["0", "8"], "8").to_dict()
    labels = chart["layer"][1]
    assert labels["encoding"]["text"]["field"] == "shown"
    assert [row["shown"] for row in chart["datasets"][labels["data"]["name"]]] == [">99.9%", "<0.1%"]


def test_run_accuracies_are_columns_of_percentages_with_gaps_kept():
    from dashboard.numbers import ACCURACY_FORMAT, accuracy_percent

    values = accuracy_percent([0.941, None]).tolist()
    assert values[0] == pytest.approx(94.1) and math.isnan(values[1])
    assert ACCURACY_FORMAT % values[0] == "94.10%"  # as the sidebar and the command line write it


def test_a_long_file_name_is_cut_in_the_middle_to_one_caption_line():
    from dashboard.gallery import short_file_name

    assert short_file_name("seven.png") == "seven.png"
    assert short_file_name("up_2_label1.png") == "up_2_l…l1.png" and len("up_2_l…l1.png") == 13


def test_the_batch_loss_axis_labels_both_ends_inside_the_curve():
    from dashboard.charts import batch_loss_curve

    # A curve from 2.27 down to 0.19: its first points ran past the last label (0.7), or 1.0 lay past the end.
    for losses in ([2.27, 0.9, 0.4, 0.19], [0.9957, 0.7, 0.5687]):
        frame = pd.DataFrame({"run": "r", "examples_seen": range(len(losses)), "loss": losses})
        for log_scale in (True, False):
            y = batch_loss_curve(frame, log_scale).to_dict()["layer"][0]["encoding"]["y"]
            ticks, (low, high) = y["axis"]["values"], y["scale"]["domain"]
            assert ticks == sorted(ticks) and low <= ticks[0] and ticks[-1] <= high
            assert ticks[0] == pytest.approx(low, rel=0.1) and ticks[-1] == pytest.approx(high, rel=0.05)
