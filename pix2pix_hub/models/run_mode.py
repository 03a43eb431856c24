"""How a generator runs at test time: `eval`, or `reference_train` as the reference's test.py does.

The reference's test.py leaves its generators in train mode unless `--eval` is given: BatchNorm
normalizes each batch with that batch's own statistics and dropout stays on. The official pix2pix
results were made that way, so converted batch-norm models record `"test_mode": "reference_train"`.
"""

from __future__ import annotations

from torch import nn

from ..errors import ConfigError

TEST_MODES = ("eval", "reference_train")


def apply_test_mode(generator: nn.Module, mode: str) -> nn.Module:
    """Put `generator` in `mode` (use it under torch.no_grad() / inference_mode) and return it.

    eval: BatchNorm uses its running statistics, dropout is off.
    reference_train: `generator.train()` for BatchNorm (batch statistics) and Dropout, but the
    running statistics are left untouched, so switching back to eval later gives the same results.
    """
    if mode not in TEST_MODES:
        raise ConfigError(f"test_mode must be one of {TEST_MODES}, got {mode!r}")
    training = mode == "reference_train"
    generator.train(training)
    for module in generator.modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            # In train mode with track_running_stats off, BatchNorm normalizes with batch statistics
            # and does not update running_mean/var/num_batches_tracked (plain .train() would).
            module.track_running_stats = not training and module.running_mean is not None
    return generator


def train_mode_differs(generator: nn.Module) -> bool:
    """True when reference_train gives other outputs than eval (the net has BatchNorm or Dropout)."""
    kinds = (nn.modules.batchnorm._BatchNorm, nn.modules.dropout._DropoutNd)
    return any(isinstance(module, kinds) for module in generator.modules())
