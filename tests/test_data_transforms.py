"""--preprocess, --no_flip and --direction on paired data whose B is a known function of A (B = 255 - A):
the same crop and flip reach both images, and each mode gives the shapes the reference gives."""

import numpy as np
import pytest
import torch
from PIL import Image

from pix2pix_hub.config import DataConfig
from pix2pix_hub.data.datasets import load_image_dataset

WIDTH, HEIGHT = 82, 58  # not square, and neither side a multiple of 4


@pytest.fixture(scope="module")
def inverted_pairs(tmp_path_factory):
    """A/ and B/ folders: A is smooth random colour (no symmetry, so a flip or a shifted crop shows), B = 255 - A."""
    root = tmp_path_factory.mktemp("inverted")
    (root / "A").mkdir()
    (root / "B").mkdir()
    rng = np.random.default_rng(0)
    for i in range(4):
        coarse = rng.integers(30, 226, (HEIGHT // 6 + 1, WIDTH // 6 + 1, 3)).astype(np.uint8)
        a = Image.fromarray(coarse).resize((WIDTH, HEIGHT), Image.BILINEAR)
        a.save(root / "A" / f"{i}.png")
        Image.fromarray(255 - np.asarray(a)).save(root / "B" / f"{i}.png")
    return root


def dataset(root, **options):
    return load_image_dataset(DataConfig(dataset=str(root), **options), paired=True, seed=3)


def items(ds, epochs=3):
    for epoch in range(epochs):
        ds.set_epoch(epoch)
        for i in range(len(ds)):
            yield ds[i]


def assert_inverse(item):
    # in [-1, 1], B = 255 - A is B = -A; resampling is linear, so it holds up to rounding
    assert item["A"].shape == item["B"].shape
    assert (item["A"] + item["B"]).abs().max() < 0.05


@pytest.mark.parametrize("preprocess, shape", [
    ("resize_and_crop", (32, 32)),
    ("crop", (32, 32)),
    ("scale_width", (32, 48)),  # width load_size; height 48 * 58 / 82 = 33.9 -> 34 -> round(34 / 4) * 4 = 32
    ("scale_width_and_crop", (32, 32)),
    ("none", (56, 80)),  # make_power_2(base 4): round(58 / 4) * 4, round(82 / 4) * 4 (Python's round, as there)
])
def test_each_mode_gives_its_shape_and_keeps_pairs_aligned(inverted_pairs, preprocess, shape):
    ds = dataset(inverted_pairs, preprocess=preprocess, load_size=48, resolution=32)
    seen = set()
    for item in items(ds):
        assert tuple(item["A"].shape) == (3, *shape)
        assert_inverse(item)
        seen.add(item["A"].sum().item())
    if preprocess != "none":  # random crops/flips: the same image gives different crops from epoch to epoch
        assert len(seen) > len(ds)


def test_crop_and_flip_are_random_but_shared(inverted_pairs):
    """--preprocess crop at 32 px from 82x58: crop positions vary; A and B always get the same one."""
    ds = dataset(inverted_pairs, preprocess="crop", resolution=32)
    original = torch.from_numpy(np.array(Image.open(inverted_pairs / "A" / "0.png"))).permute(2, 0, 1).float() / 127.5 - 1
    positions, flips = set(), set()
    for epoch in range(12):
        ds.set_epoch(epoch)
        item = next(it for it in (ds[i] for i in range(len(ds))) if ds.order(len(ds), 0)[it["index"]] == 0)
        assert_inverse(item)
        found = [(x, y, flip) for y in range(HEIGHT - 31) for x in range(WIDTH - 31) for flip in (False, True)
                 if torch.allclose((original[:, y:y + 32, x:x + 32].flip(-1) if flip else original[:, y:y + 32, x:x + 32]),
                                   item["A"], atol=1e-6)]  # one uint8 -> float conversion on both sides: equal up to
        # an ulp of 1 (1.2e-7), while a crop one pixel off differs by whole pixel steps (>= 1/127.5)
        assert len(found) == 1, "the output is an exact (possibly flipped) crop of the original"
        positions.add(found[0][:2])
        flips.add(found[0][2])
    assert len(positions) > 3 and flips == {False, True}


def test_no_flip_never_flips(inverted_pairs):
    """Images scaled to exactly the crop size, read in order: the output is the image itself, or its mirror."""
    options = dict(preprocess="resize_and_crop", load_size=32, resolution=32, serial_batches=True)
    still, flipping = dataset(inverted_pairs, no_flip=True, **options), dataset(inverted_pairs, **options)
    plain = [still[i]["A"] for i in range(len(still))]
    mirrored = 0
    for epoch in range(4):
        still.set_epoch(epoch)
        flipping.set_epoch(epoch)
        for i in range(len(still)):
            assert torch.equal(still[i]["A"], plain[i])
            item = flipping[i]
            assert_inverse(item)
            if torch.equal(item["A"], plain[i].flip(-1)):
                mirrored += 1
            else:
                assert torch.equal(item["A"], plain[i])
    assert 0 < mirrored < 16


def test_direction_btoa_swaps_a_and_b(inverted_pairs):
    forward = dataset(inverted_pairs, load_size=48, resolution=32)
    backward = dataset(inverted_pairs, load_size=48, resolution=32, direction="BtoA")
    for i in range(len(forward)):
        f, b = forward[i], backward[i]  # the same random crop and flip: the item's rng does not depend on direction
        assert torch.allclose(b["A"], f["B"]) and torch.allclose(b["B"], f["A"])
        assert_inverse(b)


def test_validation_items_are_whole_images_without_flips(inverted_pairs):
    config = DataConfig(dataset=str(inverted_pairs), load_size=48, resolution=32)
    ds = load_image_dataset(config, paired=True, train=False, seed=3)
    first = ds[0]
    assert tuple(first["A"].shape) == (3, 32, 32)
    assert_inverse(first)
    ds.set_epoch(5)
    assert torch.equal(ds[0]["A"], first["A"])  # deterministic: no crop, no flip, no shuffle


def test_none_rounds_sides_to_the_generators_multiple(inverted_pairs):
    """The reference's make_power_2 rounds to 4, which only ResNets need; a unet_32 needs multiples of 32 (training
    sets the generator's size_multiple on the dataset)."""
    ds = dataset(inverted_pairs, preprocess="none")
    ds.size_multiple = 32
    item = ds[0]
    assert tuple(item["A"].shape) == (3, 64, 96)  # round(58 / 32) * 32, round(82 / 32) * 32
    assert_inverse(item)
