"""Train pix2pix or CycleGAN: `python train.py --help`, or `accelerate launch train.py ...` for several GPUs.

    python train.py --model pix2pix --dataset huggan/facades --output_dir out/facades
    python train.py --model cyclegan --dataset ./horse2zebra --output_dir out/horse2zebra \
        --domain_a_name horse --domain_b_name zebra
"""

import sys

from pix2pix_hub.config import parse_args
from pix2pix_hub.errors import command
from pix2pix_hub.recipes import RECIPES


@command  # a Pix2PixHubError (bad data, options, a full disk...): one `error:` line, exit 2; else a traceback
def main(argv: list[str] | None = None) -> int:
    config = parse_args(argv, models=list(RECIPES))  # --model's choices: the recipes' names
    from pix2pix_hub.training.interrupts import TrainingInterrupted
    from pix2pix_hub.training.loop import train  # after argument parsing, so --help is instant

    try:
        train(config)
    except TrainingInterrupted as stop:  # Ctrl-C / SIGTERM: the checkpoint is saved (or nothing half-written kept)
        if stop.main_process:
            print(stop, file=sys.stderr)
        return stop.exit_code
    return 0


if __name__ == "__main__":
    sys.exit(main())
