"""Train pix2pix or CycleGAN: `python train.py --help`, or `accelerate launch train.py ...` for several GPUs.

    python train.py --model pix2pix --dataset huggan/facades --output_dir out/facades
    python train.py --model cyclegan --dataset ./horse2zebra --output_dir out/horse2zebra \
        --domain_a_name horse --domain_b_name zebra
"""

import sys

from pix2pix_hub.config import parse_args


def main(argv: list[str] | None = None) -> int:
    config = parse_args(argv)
    from pix2pix_hub.training import train  # after argument parsing, so --help is instant

    try:
        train(config)
    except (ValueError, FileNotFoundError, RuntimeError) as error:
        if type(error) in (RuntimeError,):  # an unexpected runtime failure: keep the traceback
            raise
        from tqdm import tqdm
        for bar in list(getattr(tqdm, "_instances", ())):  # end the progress bar's line: the error gets its own
            bar.close()
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
