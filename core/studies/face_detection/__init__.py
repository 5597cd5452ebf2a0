"""Face detection: MTCNN pretrained on real faces against MTCNN with its PNet (or every stage) fine-tuned on
cartoon faces; AP with IoU matching, PR curves, speed.

    python -m core.studies.face_detection --stages pnet --epochs 8
"""

from __future__ import annotations

from core import tasks
from core.engine.study import Headline, Published, Study
from core.studies.face_detection import experiment, train

STUDY = Study(
    name="face_detection", title="Face detection", task=tasks.get("face_detection"), config=train.MTCNNConfig,
    presets={"quick": train.QUICK, "default": train.MTCNNConfig()},
    queue=train.queue_config, train=train.train_run, comparison=experiment.default_comparison,
    headline=Headline(f"validation AP at IoU {train.EVAL_IOU:g}", lambda r: r.metrics.get("val_AP30"),
                      reference=("pretrained", "val_AP30_pretrained")),
    labels=train.LABELS, defaults=lambda: [train.QUICK], prepared=lambda: [train.QUICK.to_dict()],
    scores=experiment.scores, untrained=experiment.untrained, figure=experiment.key_figure,
    figure_title="Precision against recall on the cartoon test split (◆: each variant's best-F1 point)",
    question="MTCNN learned faces from photos. Does fine-tuning its first stage (PNet) on cartoon faces find more "
             "cartoon faces, and by how much?",
    published=(Published("+4.1% AP with PNet fine-tuned on cartoon faces",
                         "the original study's cartoon set; here facesjs-generated cartoon faces (assets/cartoon_faces) "
                         f"and AP at IoU {experiment.STUDY_IOU:g} over the test split"),),
    seeds_drive="the fine-tuned stages' training order, the positives, part faces and negatives mined from the "
                "training images (and the hard negatives), and the validation samples; the test images stay the same")
