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
    if 0.995 <= probability < 1:
        return ">99%"
    if 0 < probability < 0.005:
        return "<1%"
    return f"{probability:.0%}"
