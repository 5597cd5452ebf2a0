"""A small convolutional autoencoder: the unsupervised feature extractor of the feature-extraction study.

The encoder halves the image three times (size/8 on a side, CHANNELS[-1] channels); the decoder
mirrors it with transposed convolutions back to pixels in [0, 1]. Its encoder stages are tapped
like a backbone's blocks (`enc.0`, `enc.1`, `enc.2`).
"""

from __future__ import annotations

import torch
from torch import nn

CHANNELS = (16, 32, 64)


class ConvAutoencoder(nn.Module):
    def __init__(self, channels: tuple[int, ...] = CHANNELS) -> None:
        super().__init__()
        widths = (3, *channels)
        self.encoder = nn.Sequential()
        self.encoder.add_module("enc", nn.Sequential(*[
            nn.Sequential(nn.Conv2d(a, b, 3, stride=2, padding=1), nn.BatchNorm2d(b), nn.ReLU())
            for a, b in zip(widths, widths[1:], strict=False)]))
        back = widths[::-1]
        steps: list[nn.Module] = []
        for a, b in zip(back, back[1:], strict=False):
            steps += [nn.ConvTranspose2d(a, b, 3, stride=2, padding=1, output_padding=1)]
            steps += [nn.BatchNorm2d(b), nn.ReLU()] if b != 3 else [nn.Sigmoid()]
        self.decoder = nn.Sequential(*steps)
        self.channels = tuple(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) in [0, 1], H and W multiples of 8 -> the reconstruction, same shape."""
        return self.decoder(self.encoder(x))


def encoder_from_checkpoint(path: str) -> nn.Module:
    """The encoder of an autoencoder run's checkpoint ({"channels", "state"}, read with weights_only)."""
    saved = torch.load(path, map_location="cpu", weights_only=True)
    model = ConvAutoencoder(tuple(saved["channels"]))
    model.load_state_dict(saved["state"])
    return model.encoder.eval()
