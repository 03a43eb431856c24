"""`python -m pix2pix_hub COMMAND ...`: each command lives in its own module as `main(argv)`.

Every command's `main` is wrapped in `pix2pix_hub.errors.command`: a user's mistake is one `error:` line on
stderr and exit code 2, anything else a traceback.
"""

from __future__ import annotations

import importlib
import sys

COMMANDS = {
    "translate": ("pix2pix_hub.inference.translate", "translate images or a folder with a trained model"),
    "convert": ("pix2pix_hub.loading.convert_command", "turn reference .pth checkpoints into a Hub model folder"),
    "evaluate": ("pix2pix_hub.evaluation.evaluate", "measure a model on a dataset (L1, PSNR, SSIM, FID/KID, cycle error)"),
    "download-dataset": ("pix2pix_hub.hub.downloads", "download one of the reference's datasets by name (facades, horse2zebra...)"),
    "make-dataset": ("pix2pix_hub.data.make_dataset", "make a paired sketch->photo dataset from a folder of photos"),
    "publish-space": ("pix2pix_hub.app.space", "create or update a Gradio Space for a trained model"),
}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help") or argv[0] not in COMMANDS:
        width = max(map(len, COMMANDS))
        lines = [f"  {name:<{width}}  {about}" for name, (_, about) in COMMANDS.items()]
        print("usage: python -m pix2pix_hub COMMAND [--help]\n\ncommands:\n" + "\n".join(lines))
        return 0 if argv and argv[0] in ("-h", "--help") else 2
    module = importlib.import_module(COMMANDS[argv[0]][0])
    return module.main(argv[1:]) or 0


if __name__ == "__main__":
    sys.exit(main())
