"""Import a model: weights trained elsewhere, for a registered architecture, as a run every page can show.

Your own class (``--code``) is for the command line only: the dashboard never runs code it did not ship.
"""

import tempfile
from pathlib import Path

import streamlit as st

from core.config import ConfigError
from core.data import DataError, get_dataset_info, is_present
from core.external import MAX_UPLOAD_MIB, import_model, near_chance
from core.models import MODELS
from core.runs import RunError
from dashboard.pages import page_entry
from dashboard.sidebar import selected_dataset
from dashboard.text import plain

WEIGHT_TYPES = ["safetensors", "pt", "pth"]


def import_form(dataset: str) -> None:
    with st.form("import_form", border=True):
        upload = st.file_uploader(
            f"Weights: a state_dict saved with torch.save (.pt, .pth) or a .safetensors file, "
            f"at most {MAX_UPLOAD_MIB} MiB",
            type=WEIGHT_TYPES,
            max_upload_size=MAX_UPLOAD_MIB,
            key="import_weights",
        )
        columns = st.columns(2)
        model = columns[0].selectbox("Architecture", list(MODELS), key="import_model", help="python -m core models")
        name = columns[1].text_input("Run name (optional)", key="import_run_id", placeholder="date-dataset-model")
        submitted = st.form_submit_button("Import", type="primary", icon=":material/upload:")
    if submitted:
        if upload is None:
            st.error("Choose a weights file first.")
            return
        run_import(dataset, upload, model, name.strip() or None)


def run_import(dataset: str, upload, model: str, run_id: str | None) -> None:
    suffix = Path(upload.name).suffix if Path(upload.name).suffix in (".safetensors", ".pt", ".pth") else ".pt"
    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / f"weights{suffix}"
        path.write_bytes(upload.getvalue())
        try:
            with st.spinner("Reading the weights and evaluating the validation and test splits…"):
                run = import_model(dataset, path, model_name=model, run_id=run_id)
        except (ConfigError, DataError, RunError) as error:
            st.error(f"Not imported: {plain(error)}")
            return
    status = run.status()
    taken = f" ({run_id} was taken already)" if run_id and run.id != run_id else ""
    st.success(f"Imported as {run.id}{taken}: test accuracy {status.test_accuracy:.2%}.")
    doubt = near_chance(run)
    if doubt:
        st.warning(plain(doubt))
    entry = page_entry("confusion.py")
    st.page_link(
        entry.script, label=f"Open its {entry.title}", icon=entry.icon, query_params={"dataset": dataset, "run": run.id}
    )


def page() -> None:
    st.title("Import a model")
    dataset = selected_dataset()
    info = get_dataset_info(dataset)
    st.caption(
        f"Weights you trained elsewhere, for one of the registered architectures, on {info.title} (the sidebar's "
        "dataset). They are read without running code — safetensors, or torch.load(weights_only=True) — matched to "
        "the architecture by name, or by order and shape when the names differ, and evaluated on the validation "
        f"and test splits; inputs are standardised with the dataset's mean {info.mean:g} and std {info.std:g}."
    )
    st.caption(
        "Your own nn.Module class goes through the command line, which runs your code once and keeps an ONNX "
        "graph: `python -m core import --dataset mnist --weights mnist_cnn.pt --code main.py:Net`."
    )
    if not is_present(dataset):
        st.info(f"{info.title} is not fetched yet, and a model is evaluated on it: `python -m core data fetch`.")
        return
    import_form(dataset)


page()
