import torch

from pix2pix_hub.recipes.losses import GANLoss, ImagePool


def test_pool_fills_then_returns_history_about_half_the_time():
    pool = ImagePool(pool_size=4, seed=0)
    first = [torch.full((1, 3, 2, 2), float(i)) for i in range(4)]
    for image in first:  # until full: every image is stored and returned as is
        assert torch.equal(pool.query(image), image)
    returned_old = 0
    for i in range(4, 404):
        image = torch.full((1, 3, 2, 2), float(i))
        returned_old += int(pool.query(image)[0, 0, 0, 0].item() != i)
    assert 160 < returned_old < 240  # p = 0.5 over 400 queries
    assert len(pool.images) == 4


def test_pool_of_size_zero_is_a_no_op():
    images = torch.randn(2, 3, 4, 4)
    assert ImagePool(0).query(images) is images


def test_pool_state_round_trip_continues_identically():
    pool = ImagePool(3, seed=1)
    for i in range(5):
        pool.query(torch.full((2, 1, 2, 2), float(i)))
    copy = ImagePool(3, seed=99)
    copy.load_state_dict(pool.state_dict())
    for i in range(5, 20):
        image = torch.full((1, 1, 2, 2), float(i))
        assert torch.equal(pool.query(image), copy.query(image))


def test_gan_losses_match_their_definitions():
    logits = torch.tensor([[0.5, -1.0]])
    assert torch.isclose(GANLoss("lsgan")(logits, True), ((logits - 1) ** 2).mean())
    assert torch.isclose(GANLoss("vanilla")(logits, False), torch.nn.functional.softplus(logits).mean())
