"""The reference's test mode (`reference_train`: BatchNorm on each batch's own statistics, dropout on) as a plain
graph, so that the fast CPU path can run it.

The reference tests pix2pix with the generator in train mode, so the converted gallery entries (and any
pix2pix model that keeps that test mode) ran eager only. ReferenceTrainGraph computes the batch statistics in
the graph, and takes each dropout layer's mask as an input: forward(x, mask_0, mask_1, ...). `draw_masks`
draws them from torch's generator exactly as eager dropout would (same shapes, same order, bernoulli(1 - p)
scaled by 1/(1 - p)), so with the same seed the fast path's outputs are eager's, within the fast path's
tolerance (tests/test_fast_inference.py), and without a seed they are the same random draw as eager's.
"""

from __future__ import annotations

import threading

import torch
from torch import nn

from .tiling import _dims, _normalise, _patched, norm_layers


def reproducible_in_graph(generator: nn.Module) -> bool:
    """True when every layer that acts otherwise in train mode is a BatchNorm or a dropout (what
    test_mode reference_train leaves in train mode): the graph below reproduces those."""
    kinds = (nn.modules.batchnorm._BatchNorm, nn.modules.dropout._DropoutNd, nn.modules.instancenorm._InstanceNorm)
    changing = (nn.modules.batchnorm._NormBase, nn.modules.dropout._DropoutNd)
    return all(isinstance(m, kinds) for m in generator.modules() if isinstance(m, changing) and m.training)


def dropout_layers(generator: nn.Module) -> list[nn.Module]:
    return [m for m in generator.modules() if isinstance(m, nn.modules.dropout._DropoutNd) and m.training]


class ReferenceTrainGraph(nn.Module):
    """`generator` (in train mode) as a function of the image and its dropout masks."""

    def __init__(self, generator: nn.Module):
        super().__init__()
        self.generator = generator
        self.norms, self.dropouts = norm_layers(generator), dropout_layers(generator)
        self.size_multiple = getattr(generator, "size_multiple", 1)
        self.config = getattr(generator, "config", {})
        self.training = False  # the graph itself is deterministic: the randomness comes in as masks
        self._shapes: dict[tuple, list[tuple]] = {}  # input shape -> the masks' shapes, in forward order
        self._lock = threading.Lock()

    def forward(self, x: torch.Tensor, *masks: torch.Tensor) -> torch.Tensor:
        if len(masks) != len(self.dropouts):
            raise ValueError(f"expected {len(self.dropouts)} dropout masks, got {len(masks)}")

        def batch_norm(index, module):
            def forward(t):
                mean = t.mean(dim=_dims(module, t), keepdim=True)
                var = ((t - mean) ** 2).mean(dim=_dims(module, t), keepdim=True)
                return _normalise(module, t, mean, torch.rsqrt(var + module.eps))
            return forward

        with _patched(self.norms, batch_norm), _patched(self.dropouts, lambda i, _: lambda t: t * masks[i]):
            return self.generator(x)

    def mask_shapes(self, shape: tuple) -> list[tuple[int, tuple]]:
        """(dropout layer's index, its input's shape) in the order the layers run for an input of `shape`
        (a U-Net's innermost dropout runs first), found once per shape on meta tensors."""
        shape = tuple(int(s) for s in shape)
        with self._lock:
            if shape not in self._shapes:
                seen = []
                hooks = [m.register_forward_pre_hook(lambda _, args, i=i: seen.append((i, tuple(args[0].shape))))
                         for i, m in enumerate(self.dropouts)]
                try:
                    identity = lambda i, m: lambda t: t  # noqa: E731 -- no statistics, no random draws
                    with torch.no_grad(), _patched(self.norms, identity), _patched(self.dropouts, identity):
                        _shape_pass(self.generator, torch.empty(shape, device="meta"))
                finally:
                    for hook in hooks:
                        hook.remove()
                self._shapes[shape] = seen
            return self._shapes[shape]

    def draw_masks(self, batch: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """One mask per dropout layer (in the layers' order), drawn in the order eager dropout draws them."""
        masks: list[torch.Tensor | None] = [None] * len(self.dropouts)
        for index, shape in self.mask_shapes(tuple(batch.shape)):
            p = self.dropouts[index].p
            masks[index] = torch.empty(shape).bernoulli_(1 - p).div_(1 - p)
        return tuple(masks)

    def extra_shapes(self, shape: tuple) -> list[tuple]:
        """The masks' shapes in the layers' order (what the runtime compiles for besides the image)."""
        return [s for _, s in sorted(self.mask_shapes(shape))]

    # fast.extra_inputs: what the export and the verification feed besides the image; export_onnx gives the
    # masks free axes, as their shapes follow the image's
    extra_inputs = draw_masks
    extra_inputs_follow_image = True


def _shape_pass(generator: nn.Module, meta: torch.Tensor) -> None:
    """Run the generator's layers on a meta tensor (shapes only, no arithmetic): parameters stay where they are,
    each call sees meta copies of them."""
    from torch.func import functional_call

    params = {name: torch.empty_like(t, device="meta") for name, t in
              [*generator.named_parameters(), *generator.named_buffers()]}
    functional_call(generator, params, (meta,))
