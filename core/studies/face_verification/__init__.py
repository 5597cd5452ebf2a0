"""Face verification: ImageNet classifiers repurposed as face embeddings (the distance between two images'
outputs, normalised to [0, 1]), pretrained against fine-tuned with BCE in two phases (the classifier layers,
then everything), and dlib's face descriptor as the reference; ROC and AUC on identity-disjoint test pairs.

    python -m core.studies.face_verification --preset phase1 --backbone efficientnet_lite0
"""

from __future__ import annotations

from core import tasks
from core.engine.study import Headline, Study, last_validation
from core.studies.face_verification import experiment, train

STUDY = Study(
    name="face_verification", title="Face verification", task=tasks.get("face_verification"),
    config=train.VerificationConfig, presets=train.presets(), queue=train.queue_config, train=train.train_run,
    comparison=experiment.default_comparison, headline=Headline("validation AUC", last_validation("AUC")),
    labels=train.LABELS, legacy=train.legacy, defaults=lambda: [train.presets()["quick"]],
    prepared=lambda: [train.run_config(train.DEFAULT_DATASET, *train.presets()["quick"].parts)],
    scores=experiment.scores, untrained=experiment.untrained,
    seed_settings=lambda: [train.presets()["phase1"], train.presets()["phase2"]],
    seeds_drive="the order of the training pairs (the pair sampler), the new layers' initial weights and any "
                "augmentation drawn; the identity-disjoint split and the test pairs stay the same",
    lower_is_better=frozenset({"EER"}))
