"""Datasets: what is here, a preview of each, and bringing your own as a zip."""

import pandas as pd
import streamlit as st

from core.data import catalogue, preview
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
    st.json({k: v for k, v in info.items() if k != "problems"}, expanded=1)
    problems = info["problems"]
    if problems:
        st.warning(f"{len(problems)} problem(s); the other samples are usable.")
        st.dataframe(pd.DataFrame({"problem": problems}), hide_index=True, width="stretch",
                     column_config={"problem": st.column_config.TextColumn(width="large")})
        st.download_button("All problems as CSV", pd.DataFrame({"problem": problems}).to_csv(index=False).encode(),
                           f"{name.replace('/', '_')}-problems.csv", "text/csv", key="data.problems.csv")
    else:
        st.success("No problems found.")
    if name.startswith("user/") and st.button(f"Delete {name} and its files", key="data.delete",
                                              icon=":material/delete:"):
        try:
            catalogue.remove_user(name)
        except (DataError, OSError) as exc:
            st.error(str(exc))
        else:
            described.clear()
            st.session_state["data.removed"] = name
            st.session_state.pop("data.last", None)
            st.rerun()


rows = pd.DataFrame(catalogue.listing())
st.dataframe(rows, hide_index=True, width="stretch")
present = rows.loc[rows["present"], "name"].tolist()
chosen = st.selectbox("Preview", present, key="data.preview", **KEEP)
if chosen:
    show(chosen)

st.subheader("Bring your own")
upload = st.file_uploader("A zip of one dataset folder", type=["zip"], key="data.upload")
if upload is not None and st.session_state.get("data.done") != upload.file_id:
    st.session_state["data.done"] = upload.file_id  # this upload is answered once, whatever the answer
    try:
        st.session_state["data.last"] = catalogue.add_zip(upload.getvalue(), upload.name)
    except DataError as exc:
        st.session_state["data.last"] = str(exc)  # replaces an earlier success: one answer, the latest
    st.rerun()
if removed := st.session_state.pop("data.removed", None):
    st.success(f"Deleted **{removed}** and its files.")
last = st.session_state.get("data.last")
if isinstance(last, str):
    st.error(last)
elif last is not None and last.again:
    st.info(f"This zip was added before, as **{last.name}** ({last.format}): nothing new was written.")
elif last is not None:
    st.success(f"Added **{last.name}** ({last.format}); it is listed above and selectable wherever datasets are "
               "chosen.")
    for p in last.problems:
        st.warning(p)
