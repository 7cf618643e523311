"""Import a model: weights trained elsewhere, for a registered architecture, as a run every page can show.

Your own class (``--code``) is for the command line only: the dashboard never runs code it did not ship.
"""

import re
import tempfile
from collections.abc import Callable
from pathlib import Path

import streamlit as st

from core.config import ConfigError
from core.data import DataError, get_dataset_info, is_present
from core.external import ANY_THAT_FITS, MAX_UPLOAD_MIB, import_model, near_chance
from core.models import MODELS
from core.runs import RunError
from dashboard.pages import page_entry
from dashboard.sidebar import select_run_on_rerun, selected_dataset
from dashboard.text import plain

WEIGHT_TYPES = ["safetensors", "pt", "pth"]


RESULT_KEY, UPLOADS_KEY = "import_result", "import_uploads"


def import_form(dataset: str) -> None:
    # A fresh uploader after each import (its key counts them): clicking Import again must not import the
    # same file a second time.
    uploader_key = f"import_weights_{st.session_state.get(UPLOADS_KEY, 0)}"
    with st.form("import_form", border=True):
        st.file_uploader(
            "Weights: a state_dict saved with torch.save (.pt, .pth) or a .safetensors file",
            type=WEIGHT_TYPES,
            max_upload_size=MAX_UPLOAD_MIB,
            key=uploader_key,
        )
        columns = st.columns(2)
        columns[0].selectbox(
            "Architecture",
            [ANY_THAT_FITS, *MODELS],
            format_func=architecture_label,
            key="import_model",
            help="The registered architectures (python -m core models). Left at its first choice, the one whose "
            "layers the weights fit is found for you.",
        )
        columns[1].text_input("Run name (optional)", key="import_run_id", placeholder="date-dataset-model")
        submitted = st.form_submit_button("Import", type="primary", icon=":material/upload:")
    if submitted:
        import_upload(dataset, uploader_key)
    show_result(dataset)


def architecture_label(name: str) -> str:
    """A registered architecture with the short name its description starts with, which tells apart the
    look-alike names ("pytorch-example — The PyTorch-example net")."""
    if name == ANY_THAT_FITS:
        return "the one the weights fit"
    return f"{name} — {MODELS[name].description.split(':')[0]}"


def import_upload(dataset: str, uploader_key: str) -> None:
    """Import what the form holds, each step shown under the button as it begins, then draw the page again
    with the outcome and the new run in the sidebar."""
    upload = st.session_state.get(uploader_key)
    if upload is None:
        st.session_state[RESULT_KEY] = {"error": "Choose a weights file first."}
        return
    run_id = st.session_state.get("import_run_id", "").strip() or None
    with st.status("Importing…", expanded=True) as status:
        model = st.session_state["import_model"]
        result = run_import(dataset, upload, model, run_id, progress=lambda step: status.write(f"{step}…"))
    st.session_state[RESULT_KEY] = result
    if "run" in result:
        select_run_on_rerun(result["run"], dataset)
        st.session_state[UPLOADS_KEY] = st.session_state.get(UPLOADS_KEY, 0) + 1  # a fresh, empty uploader
    st.rerun()


def run_import(dataset: str, upload, model: str, run_id: str | None, progress: Callable[[str], None]) -> dict:
    """What the import gave: {"error": why} or {"run": its id, "success": …, "doubt": … or None}."""
    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / upload_file_name(upload.name)
        path.write_bytes(upload.getvalue())
        try:
            run = import_model(dataset, path, model_name=model, run_id=run_id, progress=progress)
        except (ConfigError, DataError, RunError) as error:
            return {"error": f"Not imported: {plain(error)}"}
    taken = f" ({run_id} was taken already)" if run_id and run.id != run_id else ""
    accuracy = run.status().test_accuracy
    success = f"Imported as {run.id}{taken}, a {run.config.model}: test accuracy {accuracy:.2%}."
    doubt = near_chance(run)
    return {"run": run.id, "success": success, "doubt": plain(doubt) if doubt else None}


def upload_file_name(name: str) -> str:
    """The upload's own file name, which messages then name, where it is a plain one; else weights.pt."""
    name = Path(name).name
    plain_name = re.fullmatch(r"[\w\- ]{1,100}\.(safetensors|pt|pth)", name)
    return name if plain_name else "weights.pt"


def show_result(dataset: str) -> None:
    """The last import's outcome, once."""
    result = st.session_state.pop(RESULT_KEY, None)
    if result is None:
        return
    if "error" in result:
        st.error(result["error"])
        return
    st.success(result["success"] + " The sidebar shows it now.")
    if result["doubt"]:
        st.warning(result["doubt"])
    entry = page_entry("confusion.py")
    st.page_link(
        entry.script,
        label=f"Open its {entry.title}",
        icon=entry.icon,
        query_params={"dataset": dataset, "run": result["run"]},
    )


def page() -> None:
    st.title("Import a model")
    dataset = selected_dataset()
    info = get_dataset_info(dataset)
    st.markdown(
        "Trained pytorch/examples' `mnist/main.py` with `--save-model`? Upload its `mnist_cnn.pt` here: it fits "
        "one of the registered architectures, which is found for you."
    )
    st.caption(
        f"Weights you trained elsewhere, for one of the registered architectures, on {info.title} (the sidebar's "
        "dataset). They are read without running code — safetensors, or torch.load(weights_only=True) — matched to "
        "the architecture by name, or by order and shape when the names differ, and evaluated on the validation "
        f"and test splits; inputs are standardised with the dataset's mean {info.mean:g} and std {info.std:g}."
    )
    st.caption(
        "A class of your own, not one of these, goes through the command line, which runs your code once and keeps "
        "an ONNX graph:"
    )
    st.code(f"python -m core import --dataset {dataset} --weights my_model.pt --code my_model.py:Net", language="bash")
    if not is_present(dataset):
        st.info(f"{info.title} is not fetched yet, and a model is evaluated on it: `python -m core data fetch`.")
        return
    import_form(dataset)


page()
