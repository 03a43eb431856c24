"""`python -m pix2pix_hub convert`: .pth checkpoints (or a reference's pretrained name) -> a model folder.

The converting is convert.py's; a name is resolved to its folder by resolve.py; the upload is hub/upload.py's.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import ConfigError, command
from ..hub.downloads import names
from ..hub.upload import upload_model_folder
from ..models.run_mode import TEST_MODES
from .convert import CUT_SOURCE, DEFAULT_SOURCE, MODEL_TYPES, convert
from .resolve import pretrained_cache_folder, pretrained_folder


def push_to_hub(output_dir: str | Path, repo_id: str, private: bool = False, token: str | None = None) -> str:
    return upload_model_folder(output_dir, repo_id, private=private, token=token,
                               commit_message="Convert a pytorch-CycleGAN-and-pix2pix checkpoint with pix2pix-hub")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m pix2pix_hub convert",
        description="Convert pytorch-CycleGAN-and-pix2pix or contrastive-unpaired-translation (CUT) generator "
                    "checkpoints (.pth) into a pix2pix-hub model "
                    "folder (and Hub repo). Architecture flags are optional: they are read from the weights.")
    given = parser.add_argument_group("checkpoints (one generator, or both CycleGAN directions)")
    given.add_argument("--checkpoint", type=Path, help="pix2pix or single-direction: e.g. latest_net_G.pth")
    given.add_argument("--checkpoint_a2b", type=Path, help="CycleGAN G_A (A -> B): e.g. latest_net_G_A.pth")
    given.add_argument("--checkpoint_b2a", type=Path, help="CycleGAN G_B (B -> A): e.g. latest_net_G_B.pth")
    given.add_argument("--pretrained", metavar="NAME",
                       help="one of the reference's pretrained models, downloaded once and converted into the cache "
                            "(or --output): " + ", ".join(names("model")))
    arch = parser.add_argument_group("architecture (checked against the weights)")
    arch.add_argument("--netG", help="unet_256, unet_128, resnet_9blocks, resnet_6blocks")
    arch.add_argument("--ngf", type=int, help="filters in the first conv")
    arch.add_argument("--norm", choices=("batch", "syncbatch", "instance", "none"))
    arch.add_argument("--no_dropout", action="store_true", help="U-Net trained with --no_dropout (not visible in the weights)")
    out = parser.add_argument_group("output")
    out.add_argument("--output", type=Path, help="model folder to write (with --pretrained: default the cache)")
    out.add_argument("--test_mode", choices=TEST_MODES,
                     help="how to run it (default: reference_train if it has BatchNorm or dropout, as the reference's test.py)")
    out.add_argument("--name", help="the original model's name, e.g. facades_label2photo")
    out.add_argument("--model_type", choices=MODEL_TYPES,
                     help="what the weights were trained as (default: cyclegan for two checkpoints, cut for anti-aliased "
                          "weights, else pix2pix); CUT nets trained with --no_antialias --no_antialias_up need --model_type cut")
    out.add_argument("--source", help=f"where the original weights come from (default: {DEFAULT_SOURCE}, or {CUT_SOURCE} "
                                      "for cut/fastcut)")
    out.add_argument("--domain_a_name", default="A")
    out.add_argument("--domain_b_name", default="B")
    out.add_argument("--resolution", type=int, help="the size it was trained at (default: 128 for unet_128, else 256)")
    out.add_argument("--license", help="the original weights' license, for the model card")
    out.add_argument("--push_to_hub", action="store_true")
    out.add_argument("--hub_model_id", help="user/name of the Hub repo")
    out.add_argument("--hub_private", action="store_true")
    return parser


def checkpoints_from_args(args: argparse.Namespace, parser: argparse.ArgumentParser) -> dict[str, Path]:
    if args.checkpoint and (args.checkpoint_a2b or args.checkpoint_b2a):
        parser.error("pass either --checkpoint or --checkpoint_a2b/--checkpoint_b2a, not both")
    if args.checkpoint:
        return {"AtoB": args.checkpoint}
    if args.checkpoint_a2b and args.checkpoint_b2a:
        return {"AtoB": args.checkpoint_a2b, "BtoA": args.checkpoint_b2a}
    if args.checkpoint_a2b or args.checkpoint_b2a:
        parser.error("a CycleGAN needs both --checkpoint_a2b and --checkpoint_b2a (for one direction use --checkpoint)")
    parser.error("pass --checkpoint FILE.pth (or --checkpoint_a2b and --checkpoint_b2a)")


@command
def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.push_to_hub and not args.hub_model_id:
        parser.error("--push_to_hub needs --hub_model_id user/name")
    if args.pretrained:
        if args.checkpoint or args.checkpoint_a2b or args.checkpoint_b2a:
            raise ConfigError("--pretrained downloads its own checkpoint: leave out --checkpoint/--checkpoint_a2b/--checkpoint_b2a")
        folder = pretrained_folder(args.pretrained, args.output)
        print(f"wrote {folder}\nuse it: ImageTranslator.from_pretrained({str(folder)!r}), or by its name "
              f"{pretrained_cache_folder(args.pretrained)[0].short_spec!r} (python -m pix2pix_hub translate --model ...)")
        if args.push_to_hub:
            print(f"uploaded: {push_to_hub(folder, args.hub_model_id, private=args.hub_private)}")
        return 0
    checkpoints = checkpoints_from_args(args, parser)
    if not args.output:
        raise ConfigError("pass --output DIR: the model folder to write")
    folder = convert(args.output, checkpoints, netG=args.netG, ngf=args.ngf, norm=args.norm,
                     no_dropout=args.no_dropout, test_mode=args.test_mode, name=args.name, source=args.source,
                     domain_a_name=args.domain_a_name, domain_b_name=args.domain_b_name,
                     resolution=args.resolution, license=args.license, repo_id=args.hub_model_id,
                     model_type=args.model_type)
    print(f"wrote {folder}")
    if args.push_to_hub:
        print(f"uploaded: {push_to_hub(folder, args.hub_model_id, private=args.hub_private)}")
    return 0
