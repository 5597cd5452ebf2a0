"""Layer taps: the activations of named graph nodes of a network, by torchvision's feature_extraction.

Node names are those `get_graph_node_names` gives for the network in eval mode (a backbone is tapped
inside its TransferModel, so `blocks.3.add` names the same layer in a pretrained, a random and a
fine-tuned copy). Only nodes whose output is an activation of the batch (B, C, H, W) or (B, D) are
offered; weight lookups and padding constants are not.
"""

from __future__ import annotations

import functools
import threading
from dataclasses import dataclass

import torch
from torch import nn
from torchvision.models.feature_extraction import create_feature_extractor, get_graph_node_names

# torch.fx patches nn.Module.__call__ for every thread while it traces: a forward pass of a traced extractor in
# another thread (a second browser session, or a rerun whose cached call still runs) then fails with "module is not
# installed as a submodule". Tracing, and the forward passes of traced extractors, take this lock.
FX_LOCK = threading.RLock()
PROBE_SIZE = 64  # the image size at which node shapes are read (channels do not depend on it)
POOLING = {"avg": "global average", "max": "global maximum", "avgmax": "average and maximum, concatenated"}


@dataclass(frozen=True)
class Node:
    name: str  # graph node name, e.g. "blocks.3.add"
    group: str  # the block it belongs to, e.g. "blocks.3"; "" outside any block
    channels: int  # C of a (B, C, H, W) output, D of a (B, D) one
    spatial: bool  # (B, C, H, W): pooled to C (or 2C) numbers per image


class UnknownLayer(KeyError):
    """A layer name that is not a tappable node of the network; the message lists the valid ones."""

    def __str__(self) -> str:
        return str(self.args[0])


def _group(name: str) -> str:
    parts = name.split(".")
    return ".".join(parts[:2]) if parts[0] in ("blocks", "enc") and len(parts) > 1 else ""


@functools.lru_cache(maxsize=16)
def _nodes(architecture: nn.Module) -> tuple[Node, ...]:
    """Every activation node, in network order (one traced forward pass of a small batch)."""
    architecture = architecture.eval()
    with FX_LOCK, torch.no_grad():
        _, names = get_graph_node_names(architecture)
        names = names[1:]  # the first is the input placeholder
        extractor = create_feature_extractor(architecture, return_nodes=names)
        out = extractor(torch.zeros(2, 3, PROBE_SIZE, PROBE_SIZE))
    found = []
    for name in names:
        value = out[name]
        if isinstance(value, torch.Tensor) and value.ndim in (2, 4) and value.shape[0] == 2 and value.is_floating_point():
            found.append(Node(name, _group(name), int(value.shape[1]), value.ndim == 4))
    return tuple(found)


def nodes(architecture: nn.Module) -> list[Node]:
    """The tappable nodes of a network, in network order. The network is traced once per object."""
    return list(_nodes(architecture))


def block_outputs(architecture: nn.Module) -> list[Node]:
    """The last node of each block, in order: one layer per depth, for a layer-wise curve."""
    last: dict[str, Node] = {}
    for node in _nodes(architecture):
        if node.group:
            last[node.group] = node
    return list(last.values())


def check_layers(architecture: nn.Module, layers: list[str]) -> list[Node]:
    """The nodes named, in the order given; UnknownLayer listing the valid names when one is not there."""
    if not layers:
        raise ValueError("choose at least one layer")
    by_name = {n.name: n for n in _nodes(architecture)}
    unknown = [name for name in layers if name not in by_name]
    if unknown:
        raise UnknownLayer(f"no layer {unknown[0]!r} in this network; valid layers: {', '.join(by_name)}")
    return [by_name[name] for name in layers]


def pool(value: torch.Tensor, how: str) -> torch.Tensor:
    """(B, C, H, W) -> (B, C) or (B, 2C); (B, D) unchanged."""
    if value.ndim == 2:
        return value
    if how == "avg":
        return value.mean((2, 3))
    if how == "max":
        return value.amax((2, 3))
    if how == "avgmax":
        return torch.cat([value.mean((2, 3)), value.amax((2, 3))], 1)
    raise ValueError(f"unknown pooling {how!r}; choose from {list(POOLING)}")


def tapped(architecture: nn.Module, layers: list[str]) -> nn.Module:
    """A module returning {layer: activation} for the layers named (checked first). Call it under FX_LOCK."""
    check_layers(architecture, layers)
    with FX_LOCK:
        return create_feature_extractor(architecture.eval(), return_nodes=list(layers))
