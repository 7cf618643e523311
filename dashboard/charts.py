"""Altair chart builders: a DataFrame in, a chart out; no Streamlit calls.

Every class keeps one colour across every chart (``class_color``).
"""

from __future__ import annotations

import math

import altair as alt
import numpy as np
import pandas as pd

from dashboard.numbers import tenth_percent

MANY_CLASSES = 12  # beyond this (EMNIST's 47), pages lay classes out differently: see where it is read
# Tableau's ten categorical colours, one per class index.
CLASS_PALETTE = [
    "#4e79a7",
    "#f28e2b",
    "#e15759",
    "#76b7b2",
    "#59a14f",
    "#edc948",
    "#b07aa1",
    "#ff9da7",
    "#9c755f",
    "#bab0ac",
]
SPLIT_COLORS = {"train": "#4e79a7", "validation": "#f28e2b", "test": "#59a14f"}

RIGHT_COLOR, WRONG_COLOR = "#2b8a3e", "#c92a2a"  # the galleries' captions use the same pair


def class_colors(count: int) -> list[str]:
    """One colour per class: Tableau's ten, then (for datasets with more classes) evenly spaced hues."""
    if count <= len(CLASS_PALETTE):
        return CLASS_PALETTE[:count]
    extra = count - len(CLASS_PALETTE)
    # Golden-ratio steps around the hue circle keep neighbouring classes apart, whatever the count.
    hues = [(0.07 + i * 0.618034) % 1.0 for i in range(extra)]
    return CLASS_PALETTE + [_hsl_hex(hue, 0.55, 0.45 + 0.15 * (i % 2)) for i, hue in enumerate(hues)]


def _hsl_hex(hue: float, saturation: float, lightness: float) -> str:
    import colorsys

    red, green, blue = colorsys.hls_to_rgb(hue, lightness, saturation)
    return "#" + "".join(f"{round(channel * 255):02x}" for channel in (red, green, blue))


# Runs get colours far apart (Tableau's ten in an order that alternates hue families), so that two
# runs on one chart never come out as two near-identical blues.
RUN_PALETTE = ["#4e79a7", "#e15759", "#59a14f", "#f28e2b", "#b07aa1", "#76b7b2", "#edc948", "#9c755f", "#ff9da7"]


def run_scale(runs: pd.Series) -> alt.Scale:
    names = list(dict.fromkeys(runs))
    return alt.Scale(domain=names, range=[RUN_PALETTE[i % len(RUN_PALETTE)] for i in range(len(names))])


def class_scale(class_names: list[str]) -> alt.Scale:
    return alt.Scale(domain=list(class_names), range=class_colors(len(class_names)))


def class_distribution(
    counts: pd.DataFrame, class_names: list[str], split: str, top_share: float, first: bool = True
) -> alt.Chart:
    """counts: columns class, split, count, of one ``split``. One bar per class in its colour, as the
    class's share of the split, so that splits of different sizes compare; every split's chart runs up to
    the same ``top_share``. A chart per split, each as wide as its place on the page (a faceted chart can't
    be, and three fixed panels ran off a 700-pixel window). Short names (digits) stand upright; longer ones
    are slanted so that they fit. ``first``: the y axis's title is on the first chart alone."""
    angle = 0 if max(len(name) for name in class_names) <= 2 else -45
    rows = counts[counts["split"] == split].assign(share=lambda frame: frame["count"] / max(frame["count"].sum(), 1))
    many = len(class_names) > MANY_CLASSES
    return (
        alt.Chart(rows, title=alt.Title(split, fontSize=13, fontWeight="normal"))
        .mark_bar()
        .encode(
            x=alt.X("class:N", sort=list(class_names), title=None, axis=alt.Axis(labelAngle=angle, labelOverlap=False)),
            y=alt.Y(
                "share:Q",
                title="share of the split" if first else None,
                axis=alt.Axis(format="%"),
                scale=alt.Scale(domain=[0, top_share]),
            ),
            color=alt.Color("class:N", scale=class_scale(class_names), legend=None),
            tooltip=["split", "class", alt.Tooltip("count:Q", format=","), alt.Tooltip("share:Q", format=".1%")],
        )
        # The height is the whole chart's, names included: slanted ones take 60 pixels of it.
        .properties(height=(110 if many else 200) + (60 if angle else 0))
    )


def pixel_histogram(histogram: pd.DataFrame) -> alt.Chart:
    """histogram: columns intensity (bin start), fraction."""
    return (
        alt.Chart(histogram)
        .mark_bar(color="#4e79a7")
        .encode(
            x=alt.X("intensity:Q", bin=alt.Bin(binned=True, step=16), title="pixel intensity (0–255)"),
            x2="intensity_end:Q",
            y=alt.Y(
                "fraction:Q",
                scale=alt.Scale(type="symlog", constant=0.001),
                axis=alt.Axis(values=[0.001, 0.01, 0.1, 1], format=".1~%"),
                title="share of pixels (log)",
            ),
            tooltip=[alt.Tooltip("intensity:Q", title="from"), alt.Tooltip("fraction:Q", format=".2%")],
        )
        .properties(height=220)
    )


# Solid training, dashed validation, solid for the other figures a loop logged (``core.history.curve_rows``).
SPLIT_DASHES = {"train": [1, 0], "validation": [6, 4], "test": [2, 3], "logged": [1, 0]}
SPLIT_LINES = {"train": "solid: training", "validation": "dashed: validation", "test": "dotted: test"}


def split_legend(splits) -> str:
    """ "Solid: training; dashed: validation": the line styles of the ``splits`` drawn (none: "")."""
    text = "; ".join(line for split, line in SPLIT_LINES.items() if split in set(splits))
    return text[:1].upper() + text[1:]


X_TITLES = {"epoch": "epoch", "examples_seen": "examples seen", "elapsed": "training time (s)"}


def epoch_curves(
    history: pd.DataFrame, metric: str, best_epochs: pd.DataFrame, x: str = "epoch", log_scale: bool = False
) -> alt.Chart:
    """history: columns run, split (train/validation), value, and ``x`` (epoch, examples_seen or elapsed:
    ``core.history.curve_rows``). Lines per run and split; the kept epoch of each run marked with a rule
    (``best_epochs``: run and the same ``x`` column)."""
    title = metric.replace("_", " ")
    percent = metric.endswith("accuracy")  # kept as fractions, whatever a loop named them
    lines = (
        alt.Chart(history)
        .mark_line(point=True)
        .encode(
            x=_progress_axis(history, x),
            y=alt.Y(
                "value:Q",
                title=title,
                scale=alt.Scale(type="log", zero=False) if log_scale else alt.Scale(zero=False),
                axis=alt.Axis(format=".1%" if percent else ".3f"),
            ),
            color=alt.Color("run:N", title="run", scale=run_scale(history["run"])),
            # No legend for the dash: Vega-Lite draws it as the points' dots, identical for both splits;
            # the pages say "solid: training, dashed: validation" under the chart instead.
            # A fixed scale: a run that logged validation alone (log_run) still draws it dashed.
            strokeDash=alt.StrokeDash(
                "split:N", scale=alt.Scale(domain=list(SPLIT_DASHES), range=list(SPLIT_DASHES.values())), legend=None
            ),
            tooltip=[
                "run",
                "split",
                "epoch",
                alt.Tooltip("value:Q", title=title, format=".2%" if percent else ".4f"),
            ],
        )
    )
    kept = (
        alt.Chart(best_epochs)
        .mark_rule(strokeDash=[2, 2], opacity=0.6)
        .encode(
            x=_progress_axis(history, x),
            color=alt.Color("run:N", scale=run_scale(history["run"])),
            tooltip=["run", alt.Tooltip("epoch:Q", title="kept epoch")],
        )
    )
    return (lines + kept).properties(height=280).interactive()


def _progress_axis(history: pd.DataFrame, x: str) -> alt.X:
    """The x axis of an epoch curve: whole epochs, examples seen (55k) or seconds of training."""
    last = float(history[x].max()) if len(history) and history[x].notna().any() else 1.0
    if x == "epoch":
        # Room around the first and last epochs, so that a kept-epoch rule there is not hidden by the
        # frame, and a run of one epoch (the quick preset's) sits in the middle, not against the axis.
        pad = 0.5 if last <= 1 else 0.3
        scale = alt.Scale(domain=[1 - pad, max(last, 1) + pad], nice=False)
        return alt.X("epoch:Q", axis=alt.Axis(tickMinStep=1, format="d"), title="epoch", scale=scale)
    scale = alt.Scale(domain=[0, last * 1.03], nice=False)
    return alt.X(
        f"{x}:Q", axis=alt.Axis(format="~s" if x == "examples_seen" else ".0f"), title=X_TITLES[x], scale=scale
    )


def batch_loss_curve(batches: pd.DataFrame, log_scale: bool = True) -> alt.LayerChart:
    """batches: columns run, examples_seen, loss (running mean over the logging window) and smoothed.
    The smoothed line over the raw one drawn faint, as TensorBoard does."""
    if "smoothed" not in batches:
        batches = batches.assign(smoothed=batches["loss"])
    # The domain spans every point, raw and smoothed: Vega-Lite's own log domain cut the first ones off.
    values = pd.concat([batches["loss"], batches["smoothed"]])
    values = values[values > 0] if log_scale else values
    domain = [float(values.min()), float(values.max())] if len(values) else None
    scale = alt.Scale(
        type="log" if log_scale else "linear", nice=False, zero=False, **({"domain": domain} if domain else {})
    )
    # Ticks at both ends too: without them a curve starting at 2.3 ran up past the last label, 0.7.
    axis = alt.Axis(values=_ticks_with_ends(*domain, log_scale)) if domain else alt.Axis()
    base = alt.Chart(batches).encode(
        x=alt.X("examples_seen:Q", title="training examples seen", axis=alt.Axis(format="~s")),
        color=alt.Color("run:N", title="run", scale=run_scale(batches["run"])),
    )
    # A log axis fitted to the curve (not whole powers of ten), so that a flat stretch still shows its slope.
    raw = base.mark_line(opacity=0.25).encode(
        y=alt.Y("loss:Q", title="running batch loss", scale=scale, axis=axis),
        color=alt.Color("run:N", scale=run_scale(batches["run"]), legend=None),  # the legend shows the smoothed line
    )
    smoothed = base.mark_line().encode(
        y=alt.Y("smoothed:Q", scale=scale),
        tooltip=["run", alt.Tooltip("examples_seen:Q", format=","), alt.Tooltip("loss:Q", format=".4f")],
    )
    return (raw + smoothed).properties(height=260).interactive()


def _ticks_with_ends(low: float, high: float, log_scale: bool) -> list[float]:
    """A loss axis's labels: round values between ``low`` and ``high`` (1, 2, 5 × a power of ten on a log axis),
    and the two ends to two significant digits, without crowding."""
    if high <= low:
        return [low]
    if log_scale:
        powers = range(math.floor(math.log10(low)), math.ceil(math.log10(high)) + 1)
        inner = [step * 10.0**power for power in powers for step in (1, 2, 5)]
    else:  # the least of 1, 2, 5 × a power of ten that gives at most five steps
        power = 10.0 ** math.floor(math.log10((high - low) / 5))
        step = next(size * power for size in (1, 2, 5, 10) if (high - low) / (size * power) <= 5)
        inner = [float(f"{step * k:.6g}") for k in range(math.ceil(low / step), math.floor(high / step) + 1)]
    span = math.log10(high / low) if log_scale else high - low

    def far_from_ends(value: float) -> bool:  # 8% of the axis: two labels no closer than a line's height
        gaps = [abs(math.log10(value / end)) if log_scale else abs(value - end) for end in (low, high)]
        return min(gaps) > 0.08 * span

    middle = [value for value in inner if low < value < high and far_from_ends(value)]
    return [_two_digits(low, up=True), *middle, _two_digits(high, up=False)]


def _two_digits(value: float, up: bool) -> float:
    """``value`` to two significant digits, rounded into the axis (a label past its end is not drawn)."""
    if value <= 0:
        return float(f"{value:.2g}")
    unit = 10.0 ** (math.floor(math.log10(value)) - 1)
    steps = math.ceil(value / unit - 1e-9) if up else math.floor(value / unit + 1e-9)  # 2.3 / 0.1 is 22.999…
    return float(f"{steps * unit:.6g}")


MATRIX_TEXT_CLASSES = 20
MATRIX_CELL_PX = 16  # the least height a row of a large matrix gets, so that 47 class names stay legible


def class_legend(class_names: list[str]) -> alt.Legend:
    """Every class in the legend (Vega-Lite cuts a long one short), in columns when there are many."""
    return alt.Legend(symbolLimit=0, columns=1 + len(class_names) // 24, orient="right")


def class_axis(class_names: list[str]) -> alt.Axis:
    """A matrix's predicted-class axis: short names (digits) upright, longer ones turned to fit."""
    short = max((len(str(name)) for name in class_names), default=0) <= 3
    return alt.Axis(labelAngle=0 if short else -40, labelOverlap=False, labelFontSize=12)


def confusion_heatmap(cells: pd.DataFrame, class_names: list[str], normalized: bool) -> alt.LayerChart:
    """cells: columns true, predicted, count, rate, in the order of ``class_names`` (the axes follow it).

    Clicking a cell selects its (true, predicted) pair. Up to ``MATRIX_TEXT_CLASSES`` classes each cell
    shows its number; beyond, the cells are too small to read and the tooltip gives it.
    """
    value = "rate" if normalized else "count"
    pick = alt.selection_point(name="cell", fields=["true", "predicted"], on="click", clear="dblclick")
    # Only errors get a colour: the diagonal (correct answers) and empty cells stay pale.
    # (Non-errors get 0, not NaN: Vega-Lite drops marks whose colour field is invalid.)
    is_error = (cells["true"] != cells["predicted"]) & (cells["count"] > 0)
    off_diagonal = cells.assign(is_error=is_error, shown=np.where(is_error, cells[value], 0))
    base = alt.Chart(off_diagonal).encode(
        x=alt.X(
            "predicted:N",
            sort=list(class_names),
            title="predicted class",
            axis=class_axis(class_names),  # every class named, however narrow the window
        ),
        y=alt.Y("true:N", sort=list(class_names), title="true class", axis=alt.Axis(labelOverlap=False)),
    )
    tooltip = [
        alt.Tooltip("true:N", title="true"),
        alt.Tooltip("predicted:N", title="predicted"),
        alt.Tooltip("count:Q", format=","),
        alt.Tooltip("rate:Q", format=".2%", title="share of the true class"),
    ]
    # Errors are coloured on their own scale, so that the diagonal doesn't wash them out.
    heat = (
        base.mark_rect(stroke="white", strokeWidth=1)
        .encode(
            color=alt.condition(
                "datum.is_error",
                alt.Color("shown:Q", scale=alt.Scale(scheme="orangered", type="sqrt"), legend=None),
                alt.value("#eef2f7"),
            ),
            opacity=alt.when(pick).then(alt.value(1.0)).otherwise(alt.value(0.35)),
            tooltip=tooltip,
        )
        .add_params(pick)
    )
    text = (
        base.transform_filter("datum.count > 0")
        .mark_text(fontSize=11)
        .encode(
            text=alt.Text(f"{value}:Q", format=".1%" if normalized else ","),
            color=alt.condition(
                f"datum.is_error && datum.shown > {_dark_threshold(off_diagonal['shown'])}",
                alt.value("white"),
                alt.value("#222"),
            ),
        )
    )
    height = max(460, MATRIX_CELL_PX * len(class_names))
    return (heat + text if len(class_names) <= MATRIX_TEXT_CLASSES else heat).properties(height=height)


def _dark_threshold(values: pd.Series) -> float:
    return float(values.max() * 0.5) if len(values) and values.max() > 0 else 1.0


def probability_bars(
    probabilities: pd.DataFrame, class_names: list[str], true_name: str | None = None
) -> alt.LayerChart:
    """probabilities: columns class, probability. The answer's bar is green when it is the true class and
    red when not (as the galleries' captions are; blue when no class is known); the others grey; the true
    class outlined."""
    answer = probabilities.loc[probabilities["probability"].idxmax(), "class"]
    answer_color = "#1c7ed6" if true_name is None else RIGHT_COLOR if answer == true_name else WRONG_COLOR
    base = alt.Chart(probabilities).encode(
        y=alt.Y("class:N", sort=list(class_names), title=None, axis=alt.Axis(labelOverlap=False)),
        x=alt.X("probability:Q", scale=alt.Scale(domain=[0, 1]), axis=alt.Axis(format="%"), title="probability"),
    )
    is_answer, is_true = alt.datum["class"] == answer, alt.datum["class"] == (true_name or "")
    bars = base.mark_bar().encode(
        color=alt.condition(is_answer, alt.value(answer_color), alt.value("#adb5bd")),
        stroke=alt.condition(is_true, alt.value("#111"), alt.value(None)),
        strokeWidth=alt.condition(is_true, alt.value(2), alt.value(0)),
        tooltip=["class", alt.Tooltip("probability:Q", format=".2%")],
    )
    # Written here, not by Vega's ".1%": 0.99996 is ">99.9%", never a "100.0%" the model didn't give.
    labelled = probabilities.assign(shown=[tenth_percent(p) for p in probabilities["probability"]])
    labels = (
        alt.Chart(labelled)
        .mark_text(align="left", dx=3, fontSize=11)
        .encode(y=alt.Y("class:N", sort=list(class_names)), x="probability:Q", text="shown:N")
    )
    return (bars + labels).properties(height=alt.Step(24))


def embedding_scatter(points: pd.DataFrame, class_names: list[str]) -> alt.LayerChart:
    """points: columns x, y, true, predicted, error, index. Coloured by true class, errors ringed in black.

    Dragging a rectangle selects points (selection ``brush``: the x and y ranges)."""
    brush = alt.selection_interval(name="brush", encodings=["x", "y"])
    tooltip = [
        alt.Tooltip("index:Q", title="test index"),
        alt.Tooltip("true:N", title="true"),
        alt.Tooltip("predicted:N", title="predicted"),
    ]
    base = alt.Chart(points).encode(
        x=alt.X("x:Q", axis=None, scale=alt.Scale(zero=False)),
        y=alt.Y("y:Q", axis=None, scale=alt.Scale(zero=False)),
    )
    dots = (
        base.mark_circle(size=12)
        .encode(
            color=alt.Color(
                "true:N", scale=class_scale(class_names), title="true class", legend=class_legend(class_names)
            ),
            opacity=alt.when(brush).then(alt.value(0.65)).otherwise(alt.value(0.12)),
            tooltip=tooltip,
        )
        .add_params(brush)
    )
    errors = (
        base.transform_filter("datum.error")
        .mark_point(size=40, filled=False, strokeWidth=1.2, color="#111")
        .encode(tooltip=tooltip)
    )
    return (dots + errors).properties(height=560)


def diverging_matrix(cells: pd.DataFrame, class_names: list[str]) -> alt.LayerChart:
    """cells: columns true, predicted, delta (second run minus first). The number is the change in count;
    the colour says whether it is better (green: more right answers on the diagonal, fewer errors off it)
    or worse (red)."""
    gain = np.where(cells["true"] == cells["predicted"], cells["delta"], -cells["delta"])
    shaded = cells.assign(gain=gain, effect=np.select([gain > 0, gain < 0], ["better", "worse"], "same"))
    # The scale follows the errors, off the diagonal: the diagonal's changes (the sum of them all) would
    # otherwise wash out a cell that got 3 worse. Diagonal cells past it take the scale's end colour.
    off_diagonal = np.abs(gain[cells["true"].to_numpy() != cells["predicted"].to_numpy()])
    limit = max(1, int(off_diagonal.max())) if len(off_diagonal) else 1
    base = alt.Chart(shaded).encode(
        x=alt.X("predicted:N", sort=list(class_names), title="predicted class", axis=class_axis(class_names)),
        y=alt.Y("true:N", sort=list(class_names), title="true class", axis=alt.Axis(labelOverlap=False)),
    )
    heat = base.mark_rect(stroke="white", strokeWidth=1).encode(
        color=alt.Color(
            "gain:Q",
            # Symlog: a cell 3 worse shows beside one 40 better (linear, it would be near white).
            scale=alt.Scale(
                type="symlog",
                domain=[-limit, 0, limit],
                range=[WRONG_COLOR, "#f8f9fa", RIGHT_COLOR],
                interpolate="rgb",
                clamp=True,
            ),
            title="B against A",
            legend=alt.Legend(
                values=[-limit, 0, limit],
                labelExpr="datum.value > 0 ? 'better' : datum.value < 0 ? 'worse' : 'same'",
            ),
        ),
        tooltip=["true", "predicted", alt.Tooltip("delta:Q", format="+d", title="images, B − A"), "effect"],
    )
    changed = base.transform_filter("datum.delta != 0")
    text = changed.mark_text(fontSize=11).encode(text=alt.Text("delta:Q", format="+d"))
    return (heat + text).properties(height=420)


def recall_deltas(per_class: pd.DataFrame, class_names: list[str]) -> alt.Chart:
    """per_class: columns class, delta (recall of B minus recall of A). Bars right: B better."""
    return (
        alt.Chart(per_class)
        .mark_bar()
        .encode(
            y=alt.Y("class:N", sort=list(class_names), title=None),
            x=alt.X("delta:Q", title="recall, B − A", axis=alt.Axis(format="+%")),
            color=alt.condition("datum.delta >= 0", alt.value(RIGHT_COLOR), alt.value(WRONG_COLOR)),
            tooltip=[
                "class",
                alt.Tooltip("recall_a:Q", format=".2%", title="recall A"),
                alt.Tooltip("recall_b:Q", format=".2%", title="recall B"),
                alt.Tooltip("delta:Q", format="+.2%"),
            ],
        )
        .properties(height=alt.Step(24))
    )


def parallel_coordinates(trials: pd.DataFrame, params: list[str], log_params: set[str]) -> alt.LayerChart:
    """A sweep's trials as lines across one axis per parameter and a last one for the objective.

    trials: a row per finished trial with its parameters, ``value`` (best validation accuracy) and ``trial``.
    Each axis spans its own range (log-uniform parameters on a log scale), its ends labelled with their
    values; lines are coloured by the objective, so the good region of each parameter shows."""
    axes = [*params, "value"]
    long_rows = []
    for _, row in trials.iterrows():
        for axis in axes:
            long_rows.append({"trial": int(row["trial"]), "axis": axis, "raw": row[axis], "objective": row["value"]})
    frame = pd.DataFrame(long_rows)
    frame["position"] = frame["raw"].astype(float)
    frame.loc[frame["axis"].isin(log_params), "position"] = np.log10(frame["position"])
    spans = frame.groupby("axis")["position"].agg(["min", "max"])
    width = (spans["max"] - spans["min"]).replace(0, 1)
    frame["height"] = (frame["position"] - frame["axis"].map(spans["min"])) / frame["axis"].map(width)
    frame["label"] = [f"{v:.3g}" if isinstance(v, float) else str(v) for v in frame["raw"]]
    order = alt.X(
        "axis:N",
        sort=axes,
        title=None,
        axis=alt.Axis(labelAngle=0, labelExpr="datum.value == 'value' ? 'best val accuracy' : datum.value"),
    )
    lines = (
        alt.Chart(frame)
        .mark_line(strokeWidth=2, opacity=0.75)
        .encode(
            x=order,
            y=alt.Y("height:Q", axis=None, scale=alt.Scale(domain=[0, 1])),
            color=alt.Color(
                "objective:Q",
                scale=alt.Scale(scheme="viridis"),
                title="best val accuracy",
                legend=alt.Legend(format=".1%"),
            ),
            detail="trial:N",
            tooltip=[
                alt.Tooltip("trial:N"),
                alt.Tooltip("axis:N", title="axis"),
                alt.Tooltip("label:N", title="value"),
            ],
        )
    )
    ends = frame.loc[
        frame.groupby("axis")["height"].idxmin().tolist() + frame.groupby("axis")["height"].idxmax().tolist()
    ]
    labels = (
        alt.Chart(ends)
        .mark_text(dx=4, align="left", fontSize=11, color="#555")
        .encode(x=order, y=alt.Y("height:Q"), text="label:N")
    )
    rules = alt.Chart(pd.DataFrame({"axis": axes})).mark_rule(color="#ccc").encode(x=order)
    return (rules + lines + labels).properties(height=320)


def importance_bars(importance: dict[str, float]) -> alt.Chart:
    """How much of the objective's variation each parameter explains (Optuna's fANOVA)."""
    frame = pd.DataFrame({"parameter": list(importance), "importance": list(importance.values())})
    return (
        alt.Chart(frame)
        .mark_bar(color="#4e79a7")
        .encode(
            x=alt.X("importance:Q", axis=alt.Axis(format="%"), title="share of the objective's variance"),
            y=alt.Y("parameter:N", sort="-x", title=None),
            tooltip=["parameter", alt.Tooltip("importance:Q", format=".1%")],
        )
        .properties(height=alt.Step(30))
    )
