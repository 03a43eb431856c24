import pytest
import torch

from pix2pix_hub.models import (
    ResnetGenerator,
    UnetGenerator,
    WeightMismatchError,
    build_discriminator,
    build_generator,
    init_weights,
)


def n_params(module):
    return sum(p.numel() for p in module.parameters())


# Counts and key names from the reference implementation (../shared/REFERENCE.md).
@pytest.mark.parametrize("netG,norm,params,keys", [
    ("unet_256", "batch", 54_413_955, 82),
    ("unet_128", "batch", 41_828_995, 70),
    ("resnet_9blocks", "instance", 11_378_179, 48),
    ("resnet_6blocks", "instance", 7_837_699, 36),
])
def test_generators_match_reference_sizes_and_keys(netG, norm, params, keys):
    net = build_generator(netG, 3, 3, 64, norm, use_dropout=True)
    assert n_params(net) == params
    assert len(net.state_dict()) == keys
    first = "model.model.0.weight" if netG.startswith("unet") else "model.1.weight"
    assert net.state_dict()[first].shape[:2] == (64, 3)


@pytest.mark.parametrize("netD,input_nc,norm,params", [("basic", 6, "batch", 2_768_705), ("basic", 3, "instance", 2_764_737), ("pixel", 6, "batch", 9_024)])
def test_discriminators_match_reference_sizes(netD, input_nc, norm, params):
    assert n_params(build_discriminator(netD, input_nc, 64, 3, norm)) == params


def test_resnet_keys_follow_reference_layout():
    keys = ResnetGenerator(ngf=8).state_dict().keys()
    assert {"model.1.weight", "model.4.weight", "model.7.weight", "model.10.conv_block.1.weight",
            "model.18.conv_block.5.weight", "model.19.weight", "model.22.weight", "model.26.weight"} <= set(keys)


@pytest.mark.parametrize("netG,size", [("unet_128", 128), ("unet_256", 256), ("resnet_6blocks", 36)])
def test_forward_shapes_and_range(netG, size):
    net = init_weights(build_generator(netG, 3, 1, 8, "instance")).eval()
    out = net(torch.randn(2, 3, size, size))
    assert out.shape == (2, 1, size, size) and out.abs().max() <= 1


def test_patchgan_output_is_a_patch_map():
    assert build_discriminator("basic", 6, 8)(torch.randn(1, 6, 256, 256)).shape == (1, 1, 30, 30)


def test_init_follows_reference():
    net = init_weights(build_generator("unet_128", ngf=16, norm="batch"), "normal", 0.02)
    conv = net.model.model[0].weight
    assert abs(conv.std().item() - 0.02) < 0.002
    bn = net.model.model[1].model[2]
    assert abs(bn.weight.mean().item() - 1.0) < 0.01


def test_save_and_from_pretrained_round_trip(tmp_path):
    net = init_weights(UnetGenerator(3, 3, 7, 8, "batch", True))
    net.save_pretrained(tmp_path)
    loaded = UnetGenerator.from_pretrained(tmp_path)
    assert not loaded.training
    for key, value in net.state_dict().items():
        assert torch.equal(value, loaded.state_dict()[key]), key


def test_from_pretrained_rejects_weights_of_another_config(tmp_path):
    UnetGenerator(3, 3, 7, 8, "batch").save_pretrained(tmp_path)
    (tmp_path / "config.json").write_text('{"input_nc": 3, "output_nc": 3, "num_downs": 7, "ngf": 16, "norm": "batch"}')
    with pytest.raises(WeightMismatchError, match="another shape"):
        UnetGenerator.from_pretrained(tmp_path)


def test_unknown_names_give_clear_errors():
    with pytest.raises(ValueError, match="unet_128, unet_256"):
        build_generator("unet_100")
    with pytest.raises(ValueError, match="basic"):
        build_discriminator("patch", 3)


def test_one_reader_of_generator_names():
    from pix2pix_hub.models.factory import parse_netG

    unet, resnet = parse_netG("unet_256"), parse_netG("resnet_6blocks")
    assert (unet.kind, unet.levels, unet.size_multiple) == ("unet", 8, 256)
    assert (resnet.kind, resnet.number, resnet.size_multiple) == ("resnet", 6, 4)
    assert unet.describe() == "U-Net with 8 levels (unet_256)"
    assert len(build_generator("unet_32", ngf=4).state_dict()) < len(build_generator("unet_64", ngf=4).state_dict())
    for bad in ("unet_16", "unet_96", "resnet_0blocks", "resnet_blocks", "unet_128x", "", None):
        with pytest.raises(ValueError, match="netG"):
            parse_netG(bad)


@pytest.mark.parametrize("upsample", ["nearest", "bilinear"])
def test_resize_upsampling_has_no_transposed_convs_and_round_trips(tmp_path, upsample):
    net = init_weights(build_generator("unet_32", 3, 3, 4, "batch", True, upsample=upsample))
    assert not any(isinstance(m, torch.nn.ConvTranspose2d) for m in net.modules())
    assert net(torch.zeros(1, 3, 32, 32)).shape == (1, 3, 32, 32)
    net.save_pretrained(tmp_path)
    loaded = UnetGenerator.from_pretrained(tmp_path)  # config.json says upsample: the same decoder is rebuilt
    x = torch.randn(1, 3, 32, 32)
    assert torch.equal(net.eval()(x), loaded(x))


def test_resize_upsampling_removes_the_checkerboard_at_init():
    # A constant input through a freshly initialised decoder: transposed convs stamp a periodic pattern on it
    # (uneven kernel overlap), resize-then-conv cannot (far from the borders every pixel sees the same weights).
    torch.manual_seed(0)
    for upsample, periodic in [("transpose", True), ("bilinear", False)]:
        net = init_weights(build_generator("unet_32", 3, 3, 4, "none", False, upsample=upsample)).eval()
        out = net(torch.full((1, 3, 32, 32), 0.5))[0, :, 8:-8, 8:-8]
        spread = (out[:, 0::2, 0::2] - out[:, 1::2, 1::2]).abs().mean().item()
        assert (spread > 1e-5) is periodic, (upsample, spread)


def test_upsample_choice_is_checked():
    with pytest.raises(ValueError, match="transpose, nearest, bilinear"):
        build_generator("unet_32", upsample="pixelshuffle")
    with pytest.raises(ValueError, match="U-Nets only"):
        build_generator("resnet_6blocks", upsample="bilinear")
