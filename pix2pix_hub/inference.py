"""`ImageTranslator`: PIL in, PIL out, any size; and `python -m pix2pix_hub translate`.

A generator wants NCHW in [-1, 1] with sides divisible by its `size_multiple` (256 for unet_256).
The translator scales the image so its longer side is the training resolution, pads it (reflect) to
that multiple, runs the net, crops the padding off and scales back to the input's size.
"""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path
from typing import Callable, Sequence

import torch
import torch.nn.functional as F
from PIL import Image

from .errors import ConfigError, command
from .images import IMAGE_SUFFIXES, open_image, pil_to_tensor, tensor_to_pil
from .models import Generator
from .pretrained import load_generator
from .test_mode import apply_test_mode

Backend = Callable[[torch.Tensor], torch.Tensor]


def best_device() -> str:
    if torch.cuda.is_available():
        return "cuda"
    if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        return "mps"
    return "cpu"


class ImageTranslator:
    """Translate PIL images with a trained generator.

    >>> translator = ImageTranslator.from_pretrained("user/facades-pix2pix")
    >>> photo = translator(Image.open("labels.png"))
    """

    def __init__(self, generator: Generator, device: str | None = None, resolution: int | None = None,
                 test_mode: str | None = None, backend: Backend | str | None = None, precision: str = "fp32"):
        """`backend`: "auto" (default on CPU: the verified ONNX fast path, see fast_inference.py; eager on
        CUDA/MPS), "eager", "openvino", "onnxruntime", or any callable NCHW tensor -> NCHW tensor.
        `precision`: "fp32" (outputs within 1e-3 of eager), or opt-in "bf16"/"int8" on OpenVINO (faster, not exact)."""
        config = getattr(generator, "hub_config", {})
        self.device = device or best_device()
        self.test_mode = test_mode or config.get("test_mode", "eval")
        self.generator = apply_test_mode(generator.to(self.device), self.test_mode)
        self.resolution = resolution or config.get("resolution", 256)
        self.size_multiple = generator.size_multiple
        self.input_mode = "L" if generator._hub_mixin_config.get("input_nc", 3) == 1 else "RGB"
        self.backend: Backend = self.run_eager
        self.backend_name = "eager"
        self.backend_reason: str | None = None
        if callable(backend):
            self.backend, self.backend_name = backend, getattr(backend, "name", "custom")
        elif (backend or ("auto" if self.device == "cpu" else "eager")) != "eager":
            self.use_fast_path(backend or "auto", precision)
        self.last_seconds = 0.0

    @classmethod
    def from_pretrained(cls, path_or_id: str | Path, direction: str | None = None, device: str | None = None,
                        revision: str | None = None, test_mode: str | None = None, **kwargs) -> "ImageTranslator":
        device = device or best_device()
        generator = load_generator(path_or_id, direction, revision=revision, device=device)
        return cls(generator, device=device, test_mode=test_mode, **kwargs)

    def use_fast_path(self, backend: str = "auto", precision: str = "fp32") -> None:
        """Switch to the fastest verified CPU runner (falls back to eager, with `backend_reason` saying why)."""
        from .fast_inference import build_backend

        _, _, canvas_w, canvas_h = self.canvas_size(self.resolution, self.resolution)
        channels = 1 if self.input_mode == "L" else 3
        runner = build_backend(self.generator, (1, channels, canvas_h, canvas_w), backend, precision)
        self.backend, self.backend_name, self.backend_reason = runner, runner.name, runner.reason

    @torch.inference_mode()
    def run_eager(self, batch: torch.Tensor) -> torch.Tensor:
        return self.generator(batch.to(self.device)).float().cpu()

    # -- pre/post-processing ------------------------------------------------------------------
    def canvas_size(self, width: int, height: int) -> tuple[int, int, int, int]:
        """(scaled width, scaled height, canvas width, canvas height) for an input of that size."""
        scale = self.resolution / max(width, height)
        w, h = max(1, round(width * scale)), max(1, round(height * scale))
        m = self.size_multiple
        return w, h, math.ceil(w / m) * m, math.ceil(h / m) * m

    def to_tensor(self, image: Image.Image) -> tuple[torch.Tensor, tuple[int, int]]:
        image = image.convert(self.input_mode)
        w, h, canvas_w, canvas_h = self.canvas_size(*image.size)
        tensor = pil_to_tensor(image.resize((w, h), Image.BICUBIC)).unsqueeze(0)
        pad = (0, canvas_w - w, 0, canvas_h - h)
        if any(pad):
            # reflect needs the pad to be smaller than the side; replicate covers tiny images
            mode = "reflect" if canvas_w - w < w and canvas_h - h < h else "replicate"
            tensor = F.pad(tensor, pad, mode=mode)
        return tensor, (w, h)

    @staticmethod
    def to_image(tensor: torch.Tensor, valid: tuple[int, int], size: tuple[int, int]) -> Image.Image:
        w, h = valid
        image = tensor_to_pil(tensor[:, :h, :w])
        return image if image.size == size else image.resize(size, Image.BICUBIC)

    # -- translation --------------------------------------------------------------------------
    def __call__(self, images: Image.Image | Sequence[Image.Image], batch_size: int = 8):
        if self.test_mode == "reference_train":
            batch_size = 1  # BatchNorm uses each batch's statistics: one image at a time, as the reference
        single = isinstance(images, Image.Image)
        images = [images] if single else list(images)
        start = time.perf_counter()
        outputs: list[Image.Image | None] = [None] * len(images)
        prepared = [self.to_tensor(image) for image in images]
        # images that share a canvas size run together
        by_shape: dict[tuple, list[int]] = {}
        for index, (tensor, _) in enumerate(prepared):
            by_shape.setdefault(tuple(tensor.shape), []).append(index)
        for indices in by_shape.values():
            for chunk_start in range(0, len(indices), batch_size):
                chunk = indices[chunk_start:chunk_start + batch_size]
                result = self.backend(torch.cat([prepared[i][0] for i in chunk]))
                for i, out in zip(chunk, result):
                    outputs[i] = self.to_image(out, prepared[i][1], images[i].size)
        self.last_seconds = time.perf_counter() - start
        return outputs[0] if single else outputs


def iter_inputs(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
        if files:
            return files
        raise ConfigError(f"no images ({', '.join(sorted(IMAGE_SUFFIXES))}) in {path}")
    raise ConfigError(f"{path} does not exist")


@command
def main(argv: list[str] | None = None) -> int:
    from tqdm.auto import tqdm

    parser = argparse.ArgumentParser(prog="python -m pix2pix_hub translate", description="Translate images with a trained model.",
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--model", required=True, help="Hub id or local model folder")
    parser.add_argument("--input", required=True, type=Path, help="an image or a folder of images")
    parser.add_argument("--output", required=True, type=Path, help="folder for the translated images (PNG)")
    parser.add_argument("--direction", choices=("AtoB", "BtoA"), help="CycleGAN models: which generator")
    parser.add_argument("--device", help="cuda, mps or cpu (default: the fastest available)")
    parser.add_argument("--revision", help="Hub branch, tag or commit")
    parser.add_argument("--test_mode", choices=("eval", "reference_train"), help="default: what the model's config says")
    parser.add_argument("--precision", choices=("fp32", "bf16", "int8"), default="fp32",
                        help="CPU fast path: fp32 matches eager PyTorch; bf16/int8 (OpenVINO; int8 needs nncf) are faster, not exact")
    args = parser.parse_args(argv)
    files = iter_inputs(args.input)
    translator = ImageTranslator.from_pretrained(args.model, args.direction, args.device, args.revision, args.test_mode,
                                                 precision=args.precision)
    args.output.mkdir(parents=True, exist_ok=True)
    root = args.input if args.input.is_dir() else args.input.parent
    with tqdm(files, desc="translating", unit="img") as progress:  # closed (its line ended) before any error
        for file in progress:
            target = args.output / file.relative_to(root).with_suffix(".png")
            target.parent.mkdir(parents=True, exist_ok=True)
            translator(open_image(file, mode=translator.input_mode, max_side=4096)).save(target)
    print(f"wrote {len(files)} image(s) to {args.output}")
    return 0
