"""GAN objectives, the CycleGAN image history pool and CUT's PatchNCE loss."""

from __future__ import annotations

import random

import torch
from torch import nn

from ..errors import ConfigError, Pix2PixHubError


class NonFiniteLossError(Pix2PixHubError, RuntimeError):
    """A loss became NaN or Inf; raised before the optimizer applies its gradients."""


class GANLoss(nn.Module):
    """vanilla: BCE on logits (pix2pix); lsgan: least squares (CycleGAN). Targets are 1 real, 0 fake."""

    def __init__(self, gan_mode: str):
        super().__init__()
        losses = {"vanilla": nn.BCEWithLogitsLoss(), "lsgan": nn.MSELoss()}
        if gan_mode not in losses:
            raise ConfigError(f"unknown --gan_mode {gan_mode!r}: use vanilla or lsgan")
        self.loss = losses[gan_mode]

    def forward(self, prediction: torch.Tensor, target_is_real: bool) -> torch.Tensor:
        prediction = prediction.float()  # the loss in fp32 under mixed precision
        target = torch.ones_like(prediction) if target_is_real else torch.zeros_like(prediction)
        return self.loss(prediction, target)


class ImagePool:
    """A history of generated images, so the discriminator also sees older fakes (Shrivastava et al.).

    Until full it stores and returns each image; then, per image, with probability 0.5 it returns a
    random stored image and stores the new one in its place, else returns the new image. It has its
    own seeded RNG and a tensor/JSON state, so resuming from a checkpoint continues exactly.
    """

    def __init__(self, pool_size: int, seed: int = 0):
        self.pool_size = pool_size
        self.images: list[torch.Tensor] = []
        self.rng = random.Random(seed)

    def query(self, images: torch.Tensor) -> torch.Tensor:
        if self.pool_size == 0:
            return images
        returned = []
        for image in images.detach():
            image = image.unsqueeze(0)
            if len(self.images) < self.pool_size:
                self.images.append(image.clone())
                returned.append(image)
            elif self.rng.uniform(0, 1) > 0.5:
                index = self.rng.randint(0, self.pool_size - 1)
                returned.append(self.images[index])
                self.images[index] = image.clone()
            else:
                returned.append(image)
        return torch.cat(returned, 0)

    def state_dict(self) -> dict:
        tensors = {f"image_{i}": image.cpu().contiguous() for i, image in enumerate(self.images)}
        version, internal, gauss = self.rng.getstate()
        return {"tensors": tensors, "rng": [version, list(internal), gauss]}

    def load_state_dict(self, state: dict, device: torch.device | str = "cpu") -> None:
        tensors = state["tensors"]
        self.images = [tensors[f"image_{i}"].to(device) for i in range(len(tensors))]
        version, internal, gauss = state["rng"]
        self.rng.setstate((version, tuple(internal), gauss))


def patch_nce_logits(query: torch.Tensor, key: torch.Tensor, num_images: int) -> torch.Tensor:
    """PatchNCE similarities (Park et al. 2020): for each query patch, column 0 is its dot product with the key
    patch at the same location (the positive), the others with the key's other patches of the same image (the
    negatives; with num_images 1, of the whole batch). query, key: (num_images * P, C) unit rows, image-major.

    A patch's similarity to itself, on the negatives' diagonal, is set to -10 (exp(-10 / T) is ~0), as CUT does."""
    key = key.detach()  # the input's features are the fixed target of the contrast
    positive = (query * key).sum(1, keepdim=True)
    queries, keys = query.view(num_images, -1, query.shape[1]), key.view(num_images, -1, key.shape[1])
    negatives = torch.bmm(queries, keys.transpose(1, 2))
    same = torch.eye(negatives.shape[1], dtype=torch.bool, device=query.device)[None]
    negatives = negatives.masked_fill(same, -10.0).flatten(0, 1)
    return torch.cat([positive, negatives], 1)


def patch_nce_loss(query: torch.Tensor, key: torch.Tensor, temperature: float = 0.07,
                   num_images: int = 1) -> torch.Tensor:
    """Per-patch cross-entropy of picking the positive among the logits / temperature (CUT's PatchNCELoss)."""
    logits = patch_nce_logits(query.float(), key.float(), num_images) / temperature
    return nn.functional.cross_entropy(logits, torch.zeros(len(logits), dtype=torch.long, device=logits.device),
                                       reduction="none")
