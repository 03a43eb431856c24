"""CUT's projection head `netF` (its `PatchSampleF`): feature maps -> features of sampled patch locations.

For each encoder layer CUT taps, it picks `num_patches` random locations (the same for every image of the
batch, and for the query and key features of one loss), projects each location's feature vector through a
two-layer MLP (`mlp_sample`; `sample` skips it) and L2-normalises the result for the PatchNCE loss.
Parameter names are CUT's (`mlp_0.0.weight`, ...).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn


def l2_normalize(x: torch.Tensor, eps: float = 1e-7) -> torch.Tensor:
    """Unit rows, as CUT's `Normalize(2)` (in float32: under bf16 autocast the logits / 0.07 need the bits)."""
    x = x.float()
    return x / (x.pow(2).sum(1, keepdim=True).sqrt() + eps)


class PatchSampler(nn.Module):
    def __init__(self, feature_channels: Sequence[int], use_mlp: bool = True, nc: int = 256):
        """`feature_channels`: the channel count of each tapped layer, in order (CUT learns them from the first
        batch; they depend only on the generator, see `CUTRecipe`)."""
        super().__init__()
        self.use_mlp, self.nc = use_mlp, nc
        self.feature_channels = list(feature_channels)
        if use_mlp:
            for index, channels in enumerate(self.feature_channels):
                self.add_module(f"mlp_{index}", nn.Sequential(nn.Linear(channels, nc), nn.ReLU(), nn.Linear(nc, nc)))

    def forward(self, features: Sequence[torch.Tensor], num_patches: int,
                patch_ids: Sequence[torch.Tensor] | None = None) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """(B, C, H, W) maps -> ((B * P, nc) unit rows per map, the P location indices used per map).

        New locations are drawn from torch's global RNG (so checkpoints restore it and resumes are exact)
        unless `patch_ids` gives those of an earlier call."""
        if len(features) != len(self.feature_channels):
            raise ValueError(f"{len(features)} feature maps for a head built for {len(self.feature_channels)}")
        projected, used_ids = [], []
        for index, feature in enumerate(features):
            locations = feature.flatten(2).transpose(1, 2)  # (B, H*W, C)
            if patch_ids is None:
                ids = torch.randperm(locations.shape[1])[:min(num_patches, locations.shape[1])]
            else:
                ids = patch_ids[index]
            ids = ids.to(feature.device)
            sample = locations[:, ids, :].flatten(0, 1)  # (B * P, C), image-major as the loss expects
            if self.use_mlp:
                sample = getattr(self, f"mlp_{index}")(sample)
            projected.append(l2_normalize(sample))
            used_ids.append(ids)
        return projected, used_ids
