"""Datasets: what is here, a preview of each, and bringing your own as a zip."""

import pandas as pd
import streamlit as st

from core.data import archive, catalogue, preview
from core.data.types import DataError
from ui import figures
from ui.settings import KEEP

st.title("Datasets")
figures.intro("The built-in sets run anywhere, offline. Bring your own as a zip in a standard format: ImageFolder, "
            "YOLO, COCO json, LFW pairs, UTKFace, a box list or WIDER FACE.")


@st.cache_data(max_entries=8, show_spinner="Reading the dataset…")
def described(name: str, source: str) -> tuple[dict, list]:
    ds = catalogue.load(name)
    return catalogue.describe_dataset(ds), preview.previews(ds)


def show(name: str) -> None:
    entry = catalogue.entries()[name]
    try:
        info, thumbs = described(name, entry.source)
    except (DataError, OSError) as exc:
        st.error(f"{name} cannot be read: {exc}")
        return
    st.caption(f"{entry.content} · source: {entry.source} · licence: {entry.licence}")
    st.image([t for t, _ in thumbs], caption=[c for _, c in thumbs], width=140)
    left, right = st.columns(2)
    with left:
        st.json({k: v for k, v in info.items() if k != "problems"}, expanded=1)
    with right:
        problems = info["problems"]
        if problems:
            st.warning(f"{len(problems)} problem(s); the other samples are usable.")
            st.dataframe(pd.DataFrame({"problem": problems}), hide_index=True, width="stretch", height=220)
        else:
            st.success("No problems found.")


rows = pd.DataFrame(catalogue.listing())
st.dataframe(rows, hide_index=True, width="stretch")
present = rows.loc[rows["present"], "name"].tolist()
chosen = st.selectbox("Preview", present, key="data.preview", **KEEP)
if chosen:
    show(chosen)

st.subheader("Bring your own")
upload = st.file_uploader("A zip of one dataset folder", type=["zip"], key="data.upload")
if upload is not None and st.session_state.get("data.done") != upload.file_id:
    try:
        result = archive.extract_zip(upload.getvalue(), catalogue.user_dir(), upload.name)
        fmt, _ = catalogue.detect_format(result.root)
    except DataError as exc:
        st.error(str(exc))
    else:
        st.session_state["data.done"] = upload.file_id
        st.session_state["data.last"] = (result.folder.name, fmt, [str(p) for p in result.problems])
        st.rerun()
if "data.last" in st.session_state:
    folder, fmt, problems = st.session_state["data.last"]
    st.success(f"Added **user/{folder}** ({fmt}); it is listed above and selectable wherever datasets are chosen.")
    for p in problems:
        st.warning(p)
