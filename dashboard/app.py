"""Entry point: ``streamlit run dashboard/app.py``. Shared sidebar pickers, navigation, the page."""

import sys
from pathlib import Path

import streamlit as st

# `streamlit run` puts dashboard/ on the path, not the project root that holds core/.
PROJECT_ROOT = Path(__file__).resolve().parent.parent
if str(PROJECT_ROOT) not in sys.path:
    sys.path.insert(0, str(PROJECT_ROOT))

from dashboard.sidebar import draw_sidebar  # noqa: E402
from dashboard.state import limit_torch_threads  # noqa: E402

st.set_page_config(page_title="MNIST Lens", page_icon=":material/center_focus_strong:", layout="wide")
limit_torch_threads()

# The pickers come before st.navigation: their values are bound to the URL's query
# parameters, and they must claim them before the navigation resolves the page.
draw_sidebar()
PAGES_DIR = Path(__file__).parent / "app_pages"
navigation = st.navigation(
    {
        "Overview": [
            st.Page(PAGES_DIR / "runs.py", title="Runs", icon=":material/table_rows:", default=True),
            st.Page(PAGES_DIR / "dataset.py", title="Dataset", icon=":material/grid_view:"),
            st.Page(PAGES_DIR / "curves.py", title="Training curves", icon=":material/show_chart:"),
        ],
        "Where it goes wrong": [
            st.Page(PAGES_DIR / "confusion.py", title="Confusion matrix", icon=":material/apps:"),
            st.Page(PAGES_DIR / "errors.py", title="Errors", icon=":material/error:"),
            st.Page(PAGES_DIR / "label_issues.py", title="Label issues", icon=":material/label_off:"),
            st.Page(PAGES_DIR / "embedding.py", title="Embedding map", icon=":material/scatter_plot:"),
            st.Page(PAGES_DIR / "compare.py", title="Run against run", icon=":material/compare_arrows:"),
        ],
        "Model": [
            st.Page(PAGES_DIR / "draw.py", title="Draw or upload", icon=":material/draw:"),
            st.Page(PAGES_DIR / "model_card.py", title="Model card", icon=":material/account_tree:"),
            st.Page(PAGES_DIR / "train.py", title="Train", icon=":material/model_training:"),
        ],
    }
)
navigation.run()
