"""Freeze strategies: small named rules over a TransferModel's blocks, epoch by epoch.

Each returns the optimiser's parameter groups for an epoch and leaves frozen parameters with
requires_grad False. Frozen blocks keep their BatchNorm layers in eval mode (running statistics
fixed), as Lightning's BaseFinetuning.freeze and fastai's freeze do.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from torch import nn

from core.models.backbones import TransferModel

STRATEGIES = {
    "scratch": "random initial weights, everything trains",
    "frozen": "pretrained backbone fixed, only the head trains (features computed once)",
    "finetune": "pretrained, everything trains at one learning rate",
    "two_phase": "head only for the first epochs, then everything (the verification study, fastai, Keras)",
    "gradual": "head first, then one more block from the top every few epochs (Lightning's BackboneFinetuning)",
    "discriminative": "everything trains, earlier blocks at geometrically smaller learning rates",
    "freeze_first_k": "the first k blocks fixed, the rest and the head train",
}


@dataclass(frozen=True)
class StrategyConfig:
    name: str = field(metadata={"flag": "strategies", "sweep": True, "help": "one run per strategy, in this order"})
    lr: float = 1e-3
    head_epochs: int = 1  # two_phase: epochs with only the head; gradual: epochs before the first unfreeze
    unfreeze_every: int = 1  # gradual: epochs between unfreezing one more block
    decay: float = 0.5  # discriminative: learning-rate factor per block, counted from the top
    k: int = 2  # freeze_first_k

    def __post_init__(self) -> None:
        if self.name not in STRATEGIES:
            raise ValueError(f"unknown strategy {self.name!r}; choose from {sorted(STRATEGIES)}")
        if self.lr <= 0 or not 0 < self.decay <= 1 or min(self.head_epochs, self.unfreeze_every, self.k) < 0:
            raise ValueError("lr must be > 0, decay in (0, 1], epochs and k >= 0")

    @property
    def pretrained(self) -> bool:
        return self.name != "scratch"


def trainable_blocks(cfg: StrategyConfig, n_blocks: int, epoch: int) -> list[int]:
    """Indices of the backbone blocks that train in this epoch (the head always trains)."""
    if cfg.name in ("scratch", "finetune", "discriminative"):
        return list(range(n_blocks))
    if cfg.name == "frozen":
        return []
    if cfg.name == "two_phase":
        return [] if epoch < cfg.head_epochs else list(range(n_blocks))
    if cfg.name == "gradual":
        opened = 0 if epoch < cfg.head_epochs else 1 + (epoch - cfg.head_epochs) // max(cfg.unfreeze_every, 1)
        return list(range(max(n_blocks - opened, 0), n_blocks))
    if cfg.name == "freeze_first_k":
        return list(range(min(cfg.k, n_blocks), n_blocks))
    raise ValueError(f"unknown strategy {cfg.name!r}")


def apply(model: TransferModel, cfg: StrategyConfig, epoch: int) -> list[dict]:
    """Set requires_grad for this epoch and return the parameter groups with their learning rates."""
    n = len(model.blocks)
    open_blocks = set(trainable_blocks(cfg, n, epoch))
    groups = []
    for i, block in enumerate(model.blocks):
        train = i in open_blocks
        for p in block.parameters():
            p.requires_grad_(train)
        if train and any(True for _ in block.parameters()):
            lr = cfg.lr * cfg.decay ** (n - 1 - i) if cfg.name == "discriminative" else cfg.lr
            groups.append({"params": list(block.parameters()), "lr": lr, "block": i})
    for p in model.head.parameters():
        p.requires_grad_(True)
    groups.append({"params": list(model.head.parameters()), "lr": cfg.lr, "block": "head"})
    return groups


def set_train_mode(model: TransferModel, cfg: StrategyConfig, epoch: int) -> None:
    """model.train(), but BatchNorm in frozen blocks stays in eval mode."""
    model.train()
    open_blocks = set(trainable_blocks(cfg, len(model.blocks), epoch))
    for i, block in enumerate(model.blocks):
        if i not in open_blocks:
            for m in block.modules():
                if isinstance(m, nn.modules.batchnorm._BatchNorm):
                    m.eval()


def count_trainable(model: TransferModel, cfg: StrategyConfig, epoch: int = 0) -> int:
    """Parameters that train in this epoch: what the page shows for a chosen strategy."""
    open_blocks = set(trainable_blocks(cfg, len(model.blocks), epoch))
    backbone = sum(p.numel() for i, b in enumerate(model.blocks) if i in open_blocks for p in b.parameters())
    return backbone + sum(p.numel() for p in model.head.parameters())
