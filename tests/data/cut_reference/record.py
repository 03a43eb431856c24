"""How tests/data/cut_reference/*.safetensors were made: CUT's own networks run on seeded weights.

    git clone https://github.com/taesungp/contrastive-unpaired-translation /tmp/cut   # not part of this repo
    python tests/data/cut_reference/record.py --cut_repo /tmp/cut

It imports `models/networks.py` and `models/patchnce.py` from that checkout (their code is never copied here)
and, for each generator config, stores: the state_dict's key names and shapes (the weights themselves are
rebuilt from the names by tests/test_convert.py's `seeded_state_dict`), CUT's fixed anti-aliasing filters
(`*.filt` buffers, as they are in CUT's checkpoints), the generator's output for a seeded 64 px input in eval
and train mode sampled at 4096 fixed positions with per-channel moments, the encoder features at
nce_layers 0,4,8,12,16 (`netG(x, layers, encode_only=True)`) sampled at 1024 positions, and netF
(`PatchSampleF`, mlp_sample, nc 16, seeded weights, given patch locations) and PatchNCELoss (nce_T 0.07) on the
features of the input (keys) and of the output (queries).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import safetensors.torch
import torch

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parents[1]), str(HERE.parents[2])]  # tests/ (the seeded weights the test rebuilds), the repo
from test_convert import seeded_input, seeded_tensor  # noqa: E402

# (netG, norm, no_antialias_up)
CONFIGS = [("resnet_9blocks", "instance", False), ("resnet_6blocks", "instance", True), ("resnet_6blocks", "batch", False)]
NGF, SIZE, LAYERS, NUM_PATCHES, NETF_NC = 8, 64, [0, 4, 8, 12, 16], 32, 16


def seeded(state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {k: v.clone() if k.endswith(".filt") else torch.tensor(3) if v.dtype == torch.int64
            else seeded_tensor(k, tuple(v.shape)) for k, v in state_dict.items()}


def sample(tensor: torch.Tensor, count: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    index = torch.from_numpy(np.random.default_rng(seed).choice(tensor.numel(), min(count, tensor.numel()), replace=False))
    return index.int(), tensor.flatten()[index].contiguous()


def record(networks, patchnce, netG: str, norm: str, no_antialias_up: bool) -> tuple[dict, dict]:
    net = networks.define_G(3, 3, NGF, netG, norm, False, "normal", 0.02, False, no_antialias_up)
    net.load_state_dict(seeded(net.state_dict()))
    keys = [(k, list(v.shape), str(v.dtype).replace("torch.", "")) for k, v in net.state_dict().items() if not k.endswith(".filt")]
    tensors = {f"filt/{k}": v for k, v in net.state_dict().items() if k.endswith(".filt")}
    x = seeded_input(3, SIZE)
    with torch.no_grad():
        net.eval()
        out = net(x)
        feats_k = net(x, list(LAYERS), encode_only=True)
        feats_q = net(out, list(LAYERS), encode_only=True)
        for layer, feature in zip(LAYERS, feats_k):
            tensors[f"feature_{layer}_index"], tensors[f"feature_{layer}_sample"] = sample(feature, 1024, layer + 1)
        netF = networks.define_F(3, "mlp_sample", norm, False, "normal", 0.02, False, [], SimpleNamespace(netF_nc=NETF_NC))
        ids = [np.random.default_rng(100 + i).permutation(f.shape[2] * f.shape[3])[:NUM_PATCHES] for i, f in enumerate(feats_k)]
        netF(feats_k, NUM_PATCHES, ids)  # creates the MLPs (CUT's data-dependent init), then seeded weights
        netF.load_state_dict(seeded(netF.state_dict()))
        keys_F = [(k, list(v.shape), "float32") for k, v in netF.state_dict().items()]
        pooled_k, _ = netF(feats_k, NUM_PATCHES, ids)
        pooled_q, _ = netF(feats_q, NUM_PATCHES, ids)
        loss = patchnce.PatchNCELoss(SimpleNamespace(nce_T=0.07, batch_size=1, nce_includes_all_negatives_from_minibatch=False))
        for i, (q, k) in enumerate(zip(pooled_q, pooled_k)):
            tensors[f"patch_ids_{i}"] = torch.from_numpy(ids[i]).int()
            tensors[f"netF_key_{i}"], tensors[f"nce_loss_{i}"] = k.contiguous(), loss(q, k).contiguous()
        for mode in ("eval", "train"):  # train mode last: its BatchNorm forward updates the running statistics
            net.train(mode == "train")
            out = net(x)
            tensors["sample_index"], tensors[f"{mode}_sample"] = sample(out, 4096, 0)
            tensors[f"{mode}_moments"] = torch.stack([out.double().mean((0, 2, 3)), out.double().std((0, 2, 3))], 1)
    metadata = {"keys": json.dumps(keys), "netF_keys": json.dumps(keys_F), "netG": netG, "norm": norm,
                "no_antialias_up": str(no_antialias_up), "feature_shapes": json.dumps([list(f.shape) for f in feats_k])}
    return tensors, metadata


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cut_repo", type=Path, required=True, help="a checkout of taesungp/contrastive-unpaired-translation")
    args = parser.parse_args()
    sys.path.insert(0, str(args.cut_repo))
    from models import networks, patchnce  # CUT's modules, from its checkout

    torch.set_num_threads(1)
    for netG, norm, no_antialias_up in CONFIGS:
        tensors, metadata = record(networks, patchnce, netG, norm, no_antialias_up)
        name = f"{netG}_{norm}{'_no_antialias_up' if no_antialias_up else ''}.safetensors"
        safetensors.torch.save_file(tensors, HERE / name, metadata=metadata)
        print("wrote", name)


if __name__ == "__main__":
    main()
