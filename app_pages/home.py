"""Home: the results that exist, a tile per study (headline numbers and a thumbnail), then what each page compares,
the device, the weights catalogue and the datasets present, folded away."""

import pandas as pd
import streamlit as st

from core import devices, weights
from core.data import catalogue
from core.engine.store import RunStore
from core.experiments import headlines
from ui import figures, hero, runs_view
from ui.sidebar import device

STUDIES = pd.DataFrame([
    ("Try your image", "available", "Two variants of one task on your photo: top-5 classes or face boxes, with ms/image.",
     "See what a pretrained model already knows before you fine-tune it."),
    ("Score your predictions", "available", "Any model's outputs (COCO json or CSV) scored with the same metrics: "
     "AP three ways, ROC/AUC/EER, confusion, r and ρ, paired CIs.", "Bring results from elsewhere into the same comparison."),
    ("Datasets", "available", "The built-in sets with previews and problems; bring your own zip in a standard format.",
     "Every comparison needs data the user can inspect."),
    ("Face detection", "available", "MTCNN pretrained vs PNet fine-tuned (the study) vs all stages fine-tuned on "
     "cartoon faces: PR curves, AP with CIs, speed, misses, what is forgotten.",
     "Does a small domain-specific fine-tune beat a detector trained on real faces, and what does it cost?"),
    ("Face verification", "available", "ImageNet backbones (AlexNet and VGG16 as in the study, MobileNetV2, "
     "EfficientNet-Lite0, …) as face embeddings, head-only then full fine-tuning with BCE or a metric-learning loss, "
     "against dlib's face descriptor: ROC, AUC, EER, TAR@FAR with DeLong CIs, hardest pairs, verify two faces.",
     "How far do ImageNet features go on a task they were never trained for?"),
    ("Transfer: classification", "available", "A backbone (MobileNetV2, EfficientNet-Lite0, ResNet, RegNet, …) from "
     "scratch vs frozen vs fine-tuned, or any of seven freeze strategies, on an imbalanced 3-class set or your own: "
     "mCA, F1, precision, recall, per-class accuracy with CIs, confusion matrices, learning curves; training live.",
     "What transfer learning buys on small, imbalanced data, and which freeze strategy to pick."),
    ("Transfer: regression", "available", "A grafted MLP head with L1 loss, frozen vs unfrozen backbone, on cartoon-face "
     "fatness (a stand-in for age) or UTKFace: Pearson, Spearman, MAE, scatter side by side.",
     "Which freeze strategy pays off for a regression head?"),
    ("Object detection (YOLO)", "available", "One YOLO architecture from scratch vs from pretrained weights on the "
     "cartoon faces or your YOLO/COCO set: P, R, F1, AP50, AP50-95 per kept checkpoint, by our metrics and by "
     "ultralytics', curves over epochs, PR overlay, detections side by side; MTCNN beside YOLO in one AP table.",
     "How much does a pretrained detector save?"),
    ("Feature extraction", "available", "Any layer (or several, fused) of a CNN, pooled, optional PCA, a linear SVM "
     "under stratified k-fold: a results table with paired t-tests; balanced accuracy block by block for ImageNet, "
     "random and fine-tuned weights; CKA of what fine-tuning moved; a 2-D map with neighbours; autoencoder "
     "features; CDFG across domains.",
     "Which layer's features transfer best to a new domain?"),
], columns=["page", "state", "compares", "why"])

st.title("Transfer learning, side by side")
figures.intro("Compare **pretrained** and **fine-tuned** variants of computer-vision models live: what transfer "
              "learning buys, which freeze strategy to pick, and at what cost in time.")


runs_view.live(RunStore())  # what is training or waiting now (a fresh install prepares its defaults)
st.subheader("Results so far")
st.caption("Each study's compared settings, scored on its test split: the numbers its page opens on. Brackets: 95% CI.")
for row in range(0, len(headlines.STUDIES), 3):
    for col, study in zip(st.columns(3), headlines.STUDIES[row:row + 3], strict=False):
        tile = headlines.tile(study, hero.get(study.name))
        box = col.container(border=True, key=f"tile-{study.name}")
        box.page_link(tile.page, label=f"**{tile.study}**", icon=":material/arrow_forward:")
        if tile.empty:
            box.caption(tile.missing)
            continue
        box.caption(tile.metric)
        box.markdown("  \n".join(f"{name} **{value}**" for name, value in tile.variants))
        if tile.delta:
            box.markdown(f"{tile.delta} · **{tile.verdict}**")

st.page_link("app_pages/talk.py", label="Make a talk of these results: slides as HTML, PDF and PowerPoint",
             icon=":material/slideshow:")

st.subheader("Device")
dev = device()
st.markdown(f"Models run on **{devices.describe(dev)}**." + ("" if dev.type == "cpu" else
            " Force CPU in the sidebar to compare speeds with the CPU."))

with st.expander("What each page compares, and why"):
    st.dataframe(STUDIES, hide_index=True, width="stretch")
with st.expander("Pretrained weights"):
    st.caption("packaged: inside an installed package · cached: in the torch hub cache or $TLDASH_WEIGHTS_DIR · "
               "downloadable: fetchable now · missing: see `python -m core.weights fetch NAME`")
    st.dataframe(pd.DataFrame(weights.catalogue()).drop(columns=["path"]), hide_index=True, width="stretch")
with st.expander("Datasets present"):
    st.dataframe(pd.DataFrame(catalogue.listing()), hide_index=True, width="stretch")
