"""How the pages write numbers: run accuracies to two decimals everywhere (94.10%, as the sidebar and the
command line give them), and probabilities in tight captions in as few characters as never mislead."""

from __future__ import annotations

import pandas as pd

# A NumberColumn's format for ``accuracy_percent`` values: Streamlit's "percent" shows 94.1% beside 94.10%.
ACCURACY_FORMAT = "%.2f%%"


def accuracy_percent(values) -> pd.Series:
    """Fractions as percentages, for a column shown with ``ACCURACY_FORMAT`` (missing values stay missing)."""
    return pd.to_numeric(pd.Series(values), errors="coerce") * 100


def short_percent(probability: float) -> str:
    """A probability in whole percent, except that 0.9999 is ">99%" and 0.001 "<1%": "100%" and "0%" would
    claim a certainty the model didn't give."""
    return _percent(probability, decimals=0)


def tenth_percent(probability: float) -> str:
    """A probability to a tenth of a percent (the inspector's), ">99.9%" and "<0.1%" at the ends."""
    return _percent(probability, decimals=1)


def _percent(probability: float, decimals: int) -> str:
    step = 10.0 ** -(decimals + 2)  # 0.01 for whole percent: what the last digit counts
    if 1 - step / 2 <= probability < 1:
        return f">{100 - 100 * step:.{decimals}f}%"
    if 0 < probability < step / 2:
        return f"<{100 * step:.{decimals}f}%"
    return f"{probability:.{decimals}%}"
