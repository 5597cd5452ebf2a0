"""Models: import your own model (a state dict, safetensors, ONNX, or a trusted YOLO .pt) to compare beside ours."""

import tempfile
from pathlib import Path

import pandas as pd
import streamlit as st

from core.models import imported
from ui import figures

st.title("Your models")
figures.intro("Bring a model trained elsewhere and compare it with the pretrained and fine-tuned variants here. It "
              "becomes the variant **yours: NAME**: on Try your image, and on the page of its task beside the runs, "
              "scored on the same test images with the same CIs and paired tests (classification and regression "
              "today). Nothing in the file is run as code: a state dict is read with `torch.load(weights_only=True)` "
              "or safetensors, ONNX by ONNX Runtime. From a shell: `python -m core.models import PATH --name NAME`.")

with st.form("models.import", border=True):
    st.markdown("**Import a model**")
    upload = st.file_uploader("A model file: .safetensors, .pt / .pth (a state dict), .onnx, or an ultralytics YOLO "
                              ".pt", type=["safetensors", "pt", "pth", "onnx"], key="models.upload")
    server = st.text_input("…or a path on this server", key="models.path", placeholder="/data/models/mine.onnx")
    left, middle, right = st.columns(3)
    name = left.text_input("Name", key="models.name", placeholder="my-finetuned-resnet")
    task = middle.selectbox("Task", ["read from the file", *imported.TASKS], key="models.task",
                            help="A state dict or ONNX graph with one output is read as a regressor, with more as a "
                                 "classifier; name the task for an embedder (face verification)")
    arch = right.selectbox("Architecture (a state dict)", ["find it from the keys", *imported.architectures()],
                           key="models.arch")
    left, middle, right = st.columns(3)
    classes = left.text_input("Class names, comma-separated, in output order", key="models.classes",
                              help="A classifier is scored on a dataset whose classes have these names")
    prep = middle.selectbox("Preprocessing (ONNX)", ["imagenet", "unit", "half"], key="models.prep",
                            format_func={"imagenet": "ImageNet mean and std", "unit": "pixels in [0, 1]",
                                         "half": "mean = std = 0.5 ([-1, 1])"}.get)
    size = right.number_input("Input size in px (where the file does not fix it)", 0, 2048, 0, key="models.size",
                              help="0: the file's own size, or the architecture's (224)")
    yolo = st.checkbox("It is an ultralytics YOLO .pt (a pickled model)", key="models.yolo")
    trust = st.checkbox("I trust this file: loading a YOLO .pt runs code stored in it", key="models.trust",
                        help="Safer: `yolo export format=onnx` and import the .onnx, which runs no code")
    go = st.form_submit_button("Import", type="primary")

if go:
    if not name:
        st.error("Give the model a name.", icon=":material/error:")
    elif upload is None and not server.strip():
        st.error("Choose a file to upload or give a path on the server.", icon=":material/error:")
    else:
        options = dict(task=None if task.startswith("read") else task, arch=None if arch.startswith("find") else arch,
                       classes=[c.strip() for c in classes.split(",") if c.strip()] or None,
                       preprocessing=prep if (upload and upload.name.lower().endswith(".onnx")) or
                       server.strip().lower().endswith(".onnx") else None, size=int(size) or None, trust=trust,
                       yolo=yolo)
        try:
            with st.spinner("Reading the file, loading it and running it once on a blank image…"):
                if upload is not None:
                    with tempfile.TemporaryDirectory() as tmp:
                        path = Path(tmp) / Path(upload.name).name
                        path.write_bytes(upload.getvalue())
                        meta = imported.import_file(path, name, origin=f"upload {upload.name}", **options)
                else:
                    meta = imported.import_file(Path(server.strip()), name, **options)
        except imported.ImportRefused as exc:
            st.error(f"Not imported: {exc}", icon=":material/error:")
        else:
            st.success(f"Imported **yours/{meta.name}**: {meta.describe()}.", icon=":material/check_circle:")

mine = imported.listing()
st.subheader("Imported here")
if not mine:
    st.info("None yet.")
    st.stop()
st.dataframe(pd.DataFrame([{"name": f"yours/{m.name}", "task": m.task, "format": m.format, "architecture": m.arch,
                            "classes": ", ".join(m.classes) or "–", "input": f"{m.size[0]}×{m.size[1]} {m.layout}",
                            "preprocessing": m.preprocessing, "MB": round(m.bytes / 1e6, 1), "from": m.origin,
                            "sha256": m.sha256[:16], "imported": m.created} for m in mine]),
             hide_index=True, width="stretch")
gone = st.selectbox("Remove", ["–", *[m.name for m in mine]], key="models.remove")
if gone != "–" and st.button(f"Remove yours/{gone} and its file", key="models.remove.go"):
    imported.remove(gone)
    st.rerun()
