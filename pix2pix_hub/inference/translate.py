"""`python -m pix2pix_hub translate`: a file or a folder through a model, losing nothing.

- Every input gets its own output: `a.jpg`, `a.png` and `a.webp` in one folder become `a_jpg.png`,
  `a_png.png`, `a_webp.png` (a name that is free is kept as `a.png`); a plan that would overwrite an input,
  or a file that an earlier run did not write (output_files.py; `--overwrite` allows it), is refused before
  anything is written.
- The output folder is never read as input, even inside the input folder; files are written under a
  temporary name and renamed, so `--skip_existing` can resume a killed batch without trusting a half file.
- `--on_bad_image skip` passes over files that cannot be read and counts them; `error` (default) stops
  at the first with one line saying how far the batch got.
- `accelerate launch -m pix2pix_hub translate ...` splits the files across the processes (each file once).
"""

from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path

import numpy as np

from ..data.images import IMAGE_SUFFIXES, BadImageError, read_array, write_array
from ..errors import ConfigError, command, first_line
from ..output_files import MANIFEST, WrittenFiles, check_writable_folder
from .translator import DEFAULT_MEMORY_BUDGET, ImageTranslator, best_device, parse_resolution

DEPTHS = {"8": np.uint8, "16": np.uint16, "float": np.float32}
PARTIAL = ".partial-"  # write_array's temporary names: never inputs


def list_inputs(path: Path, output: Path, left_out: Counter | None = None) -> list[Path]:
    """The images to translate: `path` itself, or every image under it except those in `output`. `left_out`
    counts what else is there: images under the output folder, and other files by their suffix."""
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise ConfigError(f"{path} does not exist")
    output = output.resolve()
    if output == path.resolve():
        raise ConfigError(f"--output {output} is the input folder: outputs could overwrite inputs and would be read "
                          "as inputs next time; choose an --output folder of its own")
    left_out = Counter() if left_out is None else left_out
    files = []
    for file in sorted(p for p in path.rglob("*") if p.is_file() and PARTIAL not in p.name and p.name != MANIFEST):
        if file.suffix.lower() not in IMAGE_SUFFIXES:
            left_out[file.suffix.lower() or "(no suffix)"] += 1
        elif output in file.resolve().parents:
            left_out["under --output"] += 1
        else:
            files.append(file)
    if not files:
        raise ConfigError(f"no images ({', '.join(sorted(IMAGE_SUFFIXES))}) in {path}"
                          + (" outside the output folder" if output.is_relative_to(path.resolve()) else ""))
    return files


def output_suffix(file: Path, bit_depth: str) -> str:
    """Float outputs are TIFF; with "same", TIFF inputs stay TIFF (they may be float or 16-bit); others PNG."""
    if bit_depth == "float" or (bit_depth == "same" and file.suffix.lower() in (".tif", ".tiff")):
        return ".tif"
    return ".png"


def plan_outputs(files: list[Path], root: Path, output: Path, bit_depth: str) -> dict[Path, Path]:
    """input -> output path, all distinct (case-insensitively), none of them an input; else ConfigError."""
    targets = {f: output / f.relative_to(root).with_suffix(output_suffix(f, bit_depth)) for f in files}
    groups: dict[str, list[Path]] = {}
    for file, target in targets.items():
        groups.setdefault(str(target).lower(), []).append(file)
    for clash in (g for g in groups.values() if len(g) > 1):
        for file in clash:  # a.jpg, a.png -> a_jpg.png, a_png.png
            target = targets[file]
            targets[file] = target.with_name(f"{target.stem}_{file.suffix.lstrip('.').lower()}{target.suffix}")
    seen: dict[str, Path] = {}
    inputs = {str(f.resolve()).lower() for f in files}
    for file, target in targets.items():
        key = str(target).lower()
        if key in seen:
            raise ConfigError(f"{file} and {seen[key]} would both be written to {target}; rename one of them")
        if str(target.resolve()).lower() in inputs:
            raise ConfigError(f"writing {target} would overwrite an input; choose an --output folder of its own")
        seen[key] = file
    return targets


def parse_args(argv):
    parser = argparse.ArgumentParser(prog="python -m pix2pix_hub translate", description=__doc__.split("\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--model", required=True, help="Hub id, local model folder, or one of the reference's pretrained models (horse2zebra...)")
    parser.add_argument("--input", required=True, type=Path, help="an image or a folder of images (searched recursively)")
    parser.add_argument("--output", required=True, type=Path, help="folder for the translated images")
    parser.add_argument("--direction", choices=("AtoB", "BtoA"), help="CycleGAN models: which generator")
    parser.add_argument("--device", help="cuda, mps or cpu (default: the fastest available; under accelerate, each process's)")
    parser.add_argument("--revision", help="Hub branch, tag or commit")
    parser.add_argument("--test_mode", choices=("eval", "reference_train"), help="default: what the model's config says")
    parser.add_argument("--precision", choices=("fp32", "bf16", "int8"), default="fp32",
                        help="CPU fast path: fp32 matches eager PyTorch; bf16/int8 (OpenVINO; int8 needs nncf) are faster, not exact")
    parser.add_argument("--resolution", default=None,
                        help="model (the training scale), native (the image's own pixels) or a longer side in px; "
                             "default: native for ResNet (CycleGAN) generators, model for the U-Net (pix2pix)")
    parser.add_argument("--tile", default="auto", help="auto (tiles only when the image exceeds --memory_budget), none, or a side in px")
    parser.add_argument("--overlap", type=int, help="px shared by neighbouring tiles (default 96, at most half a tile)")
    parser.add_argument("--memory_budget", type=float, default=DEFAULT_MEMORY_BUDGET / 2**30,
                        help="GiB of activations one forward pass may hold: sets the automatic tile size")
    parser.add_argument("--bit_depth", choices=("same", "8", "16", "float"), default="same",
                        help="output precision: same as each input (16-bit in -> 16-bit PNG, float TIFF -> float TIFF), "
                             "or 8/16-bit PNG, or float TIFF")
    parser.add_argument("--on_bad_image", choices=("error", "skip"), default="error",
                        help="a file that cannot be read: stop with one line, or skip it and count it")
    parser.add_argument("--skip_existing", action="store_true", help="leave outputs that already exist (resume a batch)")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace files in --output that an earlier translate did not write (by default that stops the run)")
    parser.add_argument("--max_megapixels", type=float, default=256,
                        help="refuse larger images from their header (decompression bombs)")
    args = parser.parse_args(argv)
    args.resolution = None if args.resolution is None else parse_resolution(args.resolution)
    if args.tile not in ("auto", "none") and not args.tile.isdigit():
        raise ConfigError(f"--tile {args.tile!r}: use auto, none or a side in px")
    args.tile = None if args.tile == "none" else args.tile if args.tile == "auto" else int(args.tile)
    check_tiling_numbers(args)
    return args


MIN_TILE = 32  # smaller than a U-Net's receptive step: the tile would be all padding


def check_tiling_numbers(args: argparse.Namespace) -> None:
    """A tile size, overlap or memory budget that cannot work is one line here, not a ValueError later."""
    if not args.memory_budget > 0:
        raise ConfigError(f"--memory_budget {args.memory_budget}: give a positive number of GiB (e.g. 2)")
    if isinstance(args.tile, int) and args.tile < MIN_TILE:
        raise ConfigError(f"--tile {args.tile}: a tile must be at least {MIN_TILE} px (or use auto / none)")
    if args.overlap is not None and args.overlap < 0:
        raise ConfigError(f"--overlap {args.overlap}: give 0 or more px")
    if isinstance(args.tile, int) and args.overlap is not None and args.overlap * 2 > args.tile:
        raise ConfigError(f"--overlap {args.overlap}: at most half of --tile {args.tile} ({args.tile // 2} px)")


@command
def main(argv: list[str] | None = None) -> int:
    from accelerate import Accelerator
    from accelerate.utils import gather_object
    from tqdm.auto import tqdm

    args = parse_args(argv)
    check_writable_folder(args.output)
    left_out: Counter = Counter()
    files = list_inputs(args.input, args.output, left_out)
    root = args.input if args.input.is_dir() else args.input.parent
    targets = plan_outputs(files, root, args.output, args.bit_depth)
    written = WrittenFiles(args.output)
    written.refuse_others([] if args.skip_existing else targets.values(), args.overwrite, skip_hint=
                          " (--skip_existing leaves it)")
    state = Accelerator()  # one process unless started by `accelerate launch`; reads ACCELERATE_USE_CPU
    device = args.device or best_device()
    if state.num_processes > 1 and not args.device:  # each process its own GPU (cuda:N); "cpu", not "cpu:0"
        device = str(state.device) if state.device.type == "cuda" else state.device.type
    translator = ImageTranslator.from_pretrained(
        args.model, args.direction, device, args.revision, args.test_mode, precision=args.precision,
        resolution=args.resolution, tile=args.tile, overlap=args.overlap, memory_budget=args.memory_budget * 2**30)
    counts: Counter = Counter()
    runs: Counter = Counter()
    with state.split_between_processes(files) as mine:
        with tqdm(mine, desc="translating", unit="img", disable=not state.is_main_process) as progress:
            for file in progress:
                target = targets[file]
                if args.skip_existing and target.exists():
                    counts["existing"] += 1
                    continue
                try:
                    image = read_array(file, channels=translator.image_channels, max_pixels=int(args.max_megapixels * 1e6))
                except BadImageError as error:
                    if args.on_bad_image == "error":
                        raise BadImageError(f"{first_line(error)} ({counts['written']} image(s) written before it; "
                                            "--on_bad_image skip passes over such files, --skip_existing resumes)") from None
                    counts["bad"] += 1
                    progress.write(f"skipped {first_line(error)}")
                    continue
                output, info = translator.translate_array(image, DEPTHS.get(args.bit_depth))
                target.parent.mkdir(parents=True, exist_ok=True)
                write_array(target, output)
                written.record(target)
                counts["written"] += 1
                runs[info.describe()] += 1
                if len(files) <= 20:
                    progress.write(f"{target}: {info.describe()}")
    totals, all_runs = Counter(), Counter()
    for part_counts, part_runs in gather_object([(counts, runs)]):
        totals.update(part_counts)
        all_runs.update(part_runs)
    if state.is_main_process:
        report(args, totals, all_runs, state.num_processes, len(files), left_out)
    # the process group goes down before the interpreter does: left to exit, a gloo rank sometimes aborted
    # ("terminate called without an active exception", SIGABRT) after all its files were written
    state.end_training()
    return 0


def report(args, totals: Counter, runs: Counter, processes: int, listed: int, left_out: Counter) -> None:
    line = f"wrote {totals['written']} of {listed} image(s) to {args.output}"
    if processes > 1:
        line += f" ({processes} processes)"
    if totals["existing"]:
        line += f"; {totals['existing']} already there (--skip_existing)"
    if totals["bad"]:
        line += f"; skipped {totals['bad']} that could not be read (--on_bad_image skip)"
    under_output = left_out.pop("under --output", 0)
    if under_output:
        line += f"; left out {under_output} image(s) already under --output"
    if left_out:
        kinds = ", ".join(f"{count} {suffix}" for suffix, count in left_out.most_common())
        line += f"; ignored {sum(left_out.values())} file(s) of other types ({kinds}: it reads {', '.join(sorted(IMAGE_SUFFIXES))})"
    print(line)
    if listed > 20:
        groups = runs.most_common()
        for how, count in groups[:5]:
            print(f"  {count} image(s): {how}")
        if len(groups) > 5:
            print(f"  ... and {sum(c for _, c in groups[5:])} image(s) in {len(groups) - 5} more way(s)")


if __name__ == "__main__":
    raise SystemExit(main())

