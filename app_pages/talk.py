"""Talk: the studies as slides, from the finished runs on disk, as HTML (reveal.js), PDF and PowerPoint."""

from datetime import datetime
from pathlib import Path

import streamlit as st

from core import talk
from core.engine.store import RunStore
from core.files import runs_dir
from core.studies import index
from ui import figures
from ui.settings import KEEP
from ui.sidebar import device

st.title("A talk in one click")
figures.intro("Each chosen study as a few slides: its question and setup, its key figure, its table with 95% CIs and "
              "a verdict written from the interval (a gain is called clear only where the CI excludes 0), beside the "
              "original study's number where it has one; then a summary. From the runs already finished here: "
              "nothing is trained. The HTML deck opens with the network off (arrow keys move, S opens the speaker "
              "notes); the PDF and the PowerPoint file hold the same slides. From a shell: "
              "`python -m core.talk --out DIR [--studies NAME …]`.")

names = talk.studies()
chosen = st.multiselect("Studies, in this order", names, default=names, key="talk.studies", **KEEP,
                        format_func=index.title)
done_runs = [r for r in RunStore().list("done") if r.experiment in chosen]
by_id = {r.id: r for r in done_runs}
picked = st.multiselect("Runs (default: each study's compared settings, every seed finished)", list(by_id),
                        key="talk.runs", **KEEP, help="Pick runs to show only those for their study; the studies "
                        "with none picked show their compared settings",
                        format_func=lambda i: f"{index.title(by_id[i].experiment)} · "
                                              f"{by_id[i].config.get('strategy') or by_id[i].config.get('start')} · "
                                              f"seed {by_id[i].config.get('seed', 0)} · run …{i[-6:]}")
if st.button("Build the talk", type="primary", disabled=not chosen, key="talk.build"):
    folder = runs_dir() / "talks" / datetime.now().strftime("%Y%m%d-%H%M%S")
    with st.status("Building the talk…", expanded=True) as status:
        try:
            done = talk.export(folder, chosen, device=device(), say=status.write, runs=picked)
        except talk.TalkError as exc:
            status.update(label="The talk was not written", state="error")
            st.error(str(exc), icon=":material/error:")
            st.stop()
        status.update(label=f"{done.slides} slides in {sum(done.seconds.values()):.0f} s", state="complete",
                      expanded=False)
    st.session_state["talk.done"] = {"folder": str(done.folder), "files": {k: str(v) for k, v in done.files.items()},
                                      "slides": done.slides, "problems": done.problems,
                                      "studies": [(e.title, e.headline["verdict"] if e.headline else
                                                   e.missing or "nothing to compare", e.problems)
                                                  for e in done.evidence]}

done = st.session_state.get("talk.done")
if done is None:
    st.stop()
st.subheader(f"{done['slides']} slides · {done['folder']}")
MIME = {"html": "text/html", "pdf": "application/pdf",
        "pptx": "application/vnd.openxmlformats-officedocument.presentationml.presentation"}
for col, (kind, path) in zip(st.columns(3), done["files"].items(), strict=False):
    file = Path(path)
    if not file.is_file():
        col.warning(f"{file.name} is gone from {file.parent}: build the talk again.")
        continue
    col.download_button(f"{file.name} ({file.stat().st_size / 1e6:.1f} MB)", file.read_bytes(), file.name,
                        MIME[kind], key=f"talk.download.{kind}", icon=":material/download:")
for problem in done["problems"]:
    st.warning(f"Not written: {problem}", icon=":material/warning:")
st.markdown("**What the slides say**")
for title, verdict, problems in done["studies"]:
    st.markdown(f"- **{title}**: {verdict}" + "".join(f"\n  - {p}" for p in problems))
