"""Runs: every run of every study, whatever became of it; labels, the pinned baselines, exports, comparisons."""

import streamlit as st

from core import runs as runlist
from core.engine.store import RunStore
from ui import figures
from ui import runs_view as view
from ui.settings import KEEP

st.title("Runs")
figures.intro("Every run of every study, including stopped, failed and damaged ones. Select rows to compare "
              "them (their curves overlaid, their settings side by side) or to rename, tag, pin, delete or export "
              "one. The same from a shell: `python -m core.runs list|show|rename|delete|export`.")

store = RunStore()
view.notice()
view.live(store)
rows = runlist.rows(store)
if not rows:
    st.info("No runs yet: start one with a study page's training buttons.")
    st.stop()

with figures.controls("Filters"):
    left, middle, right = st.columns(3)
    statuses = left.multiselect("Status", sorted({r.status for r in rows}), key="runs.status", **KEEP)
    studies = middle.multiselect("Study", sorted({r.study for r in rows}), key="runs.study", **KEEP)
    text = right.text_input("Search name, id, tag or note", key="runs.search", **KEEP).strip().lower()
shown = [r for r in rows if (not statuses or r.status in statuses) and (not studies or r.study in studies)
         and (not text or text in " ".join([r.id, r.name, r.note, *r.tags]).lower())]
ids = [r.id for r in shown]
st.dataframe(view.frame(shown), hide_index=True, width="stretch", key=view.TABLE, on_select=lambda: view.picked_from_table(ids),
             selection_mode="multi-row", column_config={"id": st.column_config.TextColumn(width="small")})
st.caption(f"{len(shown)} of {len(rows)} runs · ★ the baseline its study's page compares against · click a column "
           "to sort")

by_id = {r.id: store.get(r.id) for r in rows}
picked = st.multiselect("Runs picked (select rows above, or add here)", list(by_id), key=view.COMPARE, **KEEP,
                        format_func=lambda i: by_id[i].title)
if not picked:
    st.stop()
runs = [by_id[i] for i in picked]
if len(runs) == 1:
    view.manage(runs[0], store)
else:
    one = st.selectbox("Manage one of them", picked, format_func=lambda i: by_id[i].title, key="runs.manage")
    with st.expander(f"Rename, tag, pin or delete {by_id[one].title}"):
        view.manage(by_id[one], store)
view.exports(runs, store)
st.subheader("Curves" if len(runs) == 1 else f"{len(runs)} runs compared")
view.compare(runs)
