"""Small Streamlit pieces that more than one page draws."""

import pandas as pd
import streamlit as st


def show_details(details: pd.DataFrame) -> None:
    """The per-image table under a gallery."""
    st.dataframe(
        details,
        hide_index=True,
        column_config={
            "test index": st.column_config.NumberColumn("Test index", format="plain"),
            "true": "True",
            "predicted": "Predicted",
            "confidence": st.column_config.NumberColumn("Confidence", format="percent"),
            "p(true)": st.column_config.NumberColumn("p(true class)", format="percent"),
        },
    )
