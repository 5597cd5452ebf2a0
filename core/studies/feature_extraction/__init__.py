"""Feature extraction: features from a chosen layer (or several, fused) of a pretrained CNN, against random
initialisation, a fine-tuned run and a small autoencoder trained here, probed by a linear SVM with k-fold
cross-validation; and a cross-domain generalisation measure. Its runs train the autoencoder.

    python -m core.studies.feature_extraction --dataset fashion_mnist_sample --epochs 5
"""

from __future__ import annotations

from core import tasks
from core.engine import config as settings
from core.engine.study import Study
from core.studies.feature_extraction import experiment, train

STUDY = Study(
    name="feature_extraction", title="Feature extraction", task=tasks.get("feature_extraction"),
    config=train.AutoencoderConfig, presets={"quick": train.AutoencoderConfig(), "default": train.AutoencoderConfig()},
    queue=train.queue_config, train=train.train_run, comparison=experiment.default_comparison,
    scores=experiment.scores, untrained=experiment.untrained, seed_settings=lambda: [train.AutoencoderConfig()],
    question="Are features learned on ImageNet better for a linear classifier than those of a small autoencoder "
             "trained here on the images themselves?",
    defaults=lambda: [train.AutoencoderConfig()], prepared=lambda: [settings.to_dict(train.AutoencoderConfig())],
    seeds_drive="the autoencoder's initial weights and the order of its training batches; the probe's folds and the "
                "images sampled stay the same, and each image is scored by the probe fitted on the other folds")
