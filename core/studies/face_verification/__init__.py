"""Face verification: ImageNet classifiers repurposed as face embeddings (the distance between two images'
outputs, normalised to [0, 1]), pretrained against fine-tuned with BCE in two phases (the classifier layers,
then everything), and dlib's face descriptor as the reference; ROC and AUC on identity-disjoint test pairs.

    python -m core.studies.face_verification --preset phase1 --backbone efficientnet_lite0
"""

from __future__ import annotations

from core import tasks
from core.engine.study import Headline, Published, Study, last_validation
from core.studies.face_verification import experiment, train

STUDY = Study(
    name="face_verification", title="Face verification", task=tasks.get("face_verification"),
    config=train.VerificationConfig, presets=train.presets(), queue=train.queue_config, train=train.train_run,
    comparison=experiment.default_comparison, headline=Headline("validation AUC", last_validation("AUC")),
    labels=train.LABELS, legacy=train.legacy, defaults=lambda: [train.presets()["quick"]],
    prepared=lambda: [train.run_config(train.DEFAULT_DATASET, *train.presets()["quick"].parts)],
    scores=experiment.scores, untrained=experiment.untrained, figure=experiment.key_figure,
    figure_title="ROC on the identity-disjoint test pairs (×: each variant's equal-error point)",
    question="An ImageNet classifier never saw a face pair. Used as a face embedding, how well does it tell two "
             "people apart, and what do the two fine-tuning phases add?",
    published=(Published("AlexNet AUC 0.741 → 0.824, VGG16 0.742 → 0.857 after fine-tuning",
                         "AlexNet and VGG16 on the original study's face pairs; here EfficientNet-Lite0 (AlexNet and "
                         "VGG16 join only when their weights are on disk) on cartoon people, identity-disjoint test "
                         "pairs"),),
    seed_settings=lambda: [train.presets()["phase1"], train.presets()["phase2"]],
    seeds_drive="the order of the training pairs (the pair sampler), the new layers' initial weights and any "
                "augmentation drawn; the identity-disjoint split and the test pairs stay the same",
    lower_is_better=frozenset({"EER"}))
