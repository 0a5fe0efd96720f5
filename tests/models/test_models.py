import pytest
import torch

from ganstudio.conditioning import Cond, CondSpec
from ganstudio.config import ModelConfig, apply_overrides, config_from_dict, load_preset
from ganstudio.models import build_models

SMALL = ModelConfig(z_dim=16, cond_dim=16, w_dim=32, channel_base=256, channel_max=32)
SPECS = {
    "unconditional": CondSpec(),
    "classes": CondSpec(num_classes=3),
    "attributes": CondSpec(
        attribute_names=["brightness", "coverage"], attribute_mean=[0, 0], attribute_std=[1, 1]
    ),
    "both": CondSpec(3, ["brightness"], [0.0], [1.0]),
}


@pytest.mark.parametrize("arch", ["r3gan", "dcgan"])
@pytest.mark.parametrize("spec_name", list(SPECS))
@pytest.mark.parametrize("resolution,channels", [(16, 1), (32, 3)])
def test_shapes_with_and_without_each_condition(arch, spec_name, resolution, channels):
    spec = SPECS[spec_name]
    G, D = build_models(ModelConfig(**{**SMALL.__dict__, "arch": arch}), resolution, channels, spec)
    z = torch.randn(4, 16)
    for cond in (None, Cond.empty(4, spec.num_attributes)):
        images = G(z, cond)
        assert images.shape == (4, channels, resolution, resolution)
        assert D(images, cond).shape == (4,)
    if spec.num_classes:
        cond = Cond.empty(4, spec.num_attributes)
        cond.label_mask[:] = True
        cond.labels = torch.tensor([0, 1, 2, 0])
        assert not torch.allclose(D(G(z, cond), cond), D(G(z, None), None))


def test_condition_changes_the_output():
    torch.manual_seed(0)
    G, _ = build_models(SMALL, 16, 1, SPECS["both"])
    z = torch.randn(2, 16)
    a, b = Cond.empty(2, 1), Cond.empty(2, 1)
    a.label_mask[:] = b.label_mask[:] = True
    b.labels[:] = 2
    assert not torch.allclose(G(z, a), G(z, b))


def test_unconditional_model_refuses_a_label():
    G, _ = build_models(SMALL, 16, 1, SPECS["unconditional"])
    cond = Cond.empty(2)
    cond.label_mask[:] = True
    with pytest.raises(ValueError, match="without class labels"):
        G(torch.randn(2, 16), cond)


def test_unsupported_resolution_is_a_clear_error():
    with pytest.raises(ValueError, match="power of two from 16 to 256"):
        build_models(SMALL, 48, 1, CondSpec())
    with pytest.raises(ValueError, match="unknown model architecture 'stylegan9'; valid .*dcgan, r3gan"):
        build_models(ModelConfig(arch="stylegan9"), 32, 1, CondSpec())


def test_r3gan_starts_near_identity_blocks():
    """Fix-up init: every residual branch's last conv starts at zero."""
    G, D = build_models(SMALL, 16, 1, CondSpec())
    for net in (G, D):
        lasts = [m.compress.weight for m in net.modules() if hasattr(m, "compress")]
        assert lasts and all(torch.count_nonzero(w) == 0 for w in lasts)


def test_modulation_starts_as_the_plain_network():
    torch.manual_seed(0)
    plain, _ = build_models(SMALL, 16, 1, CondSpec(num_classes=3))
    torch.manual_seed(0)
    modulated, _ = build_models(
        ModelConfig(**{**SMALL.__dict__, "modulate": True}), 16, 1, CondSpec(num_classes=3)
    )
    modulated.load_state_dict(plain.state_dict(), strict=False)
    z = torch.randn(3, 16)
    assert torch.allclose(plain(z), modulated(z), atol=1e-6)


def test_minibatch_std_sees_how_much_a_batch_varies():
    from ganstudio.models.r3gan import minibatch_std

    same = torch.ones(6, 4, 4, 4)
    assert minibatch_std(same, 4).shape == (6, 1, 4, 4)  # group shrinks to 3, a divisor of 6
    assert minibatch_std(same, 4).max() < 1e-3
    varied = torch.randn(6, 4, 4, 4)
    assert minibatch_std(varied, 4).min() > 0.3
    config = ModelConfig(**{**SMALL.__dict__, "mbstd_group": 4})
    _, D = build_models(config, 16, 1, CondSpec())
    images = torch.randn(1, 1, 16, 16).repeat(4, 1, 1, 1)
    assert not torch.allclose(D(images), D(images + 0.5 * torch.randn_like(images)))


def test_auxiliary_heads_score_only_the_conditions_present():
    spec = CondSpec(num_classes=3, text_dim=8, text_encoder="builtin")
    _, D = build_models(ModelConfig(**{**SMALL.__dict__, "aux_heads": True}), 16, 1, spec)
    images = torch.randn(4, 1, 16, 16)
    cond = Cond.for_spec(spec, 4, "cpu")
    logits, features = D(images, cond, return_features=True)
    assert logits.shape == (4,) and features.shape[0] == 4
    assert D.aux_loss(features, cond) is None  # nothing given: nothing to predict
    cond.labels, cond.label_mask = torch.tensor([0, 1, 2, 0]), torch.tensor([True, True, False, False])
    expected = torch.nn.functional.cross_entropy(D.aux_class(features[:2]), cond.labels[:2])
    assert torch.allclose(D.aux_loss(features, cond), expected)
    cond.text, cond.text_mask = torch.randn(4, 8), torch.tensor([False, False, True, True])
    cond.label_mask[:] = False
    loss = D.aux_loss(features, cond)
    assert 0 <= loss.item() <= 2  # 1 - cosine similarity


def test_pixel_convs_follow_the_option_and_configs_written_before_it_rebuild_1x1():
    """model.rgb_kernel=3 gives G's last and D's first conv a 3x3 kernel; a config.json without
    the key (every model trained before the option existed) rebuilds 1x1."""
    preset = apply_overrides(load_preset("cpu-32"), ["model.rgb_kernel=3"])
    old = preset.to_dict()
    del old["model"]["rgb_kernel"]
    for config, kernel in ((preset, 3), (config_from_dict(old), 1)):
        model = ModelConfig(**{**SMALL.__dict__, "rgb_kernel": config.model.rgb_kernel})
        G, D = build_models(model, 16, 1, CondSpec())
        assert G.to_image.weight.shape[-2:] == D.from_image.weight.shape[-2:] == (kernel, kernel)
        assert G(torch.randn(2, 16)).shape == (2, 1, 16, 16)


def test_dcgan_takes_a_sketch_and_it_changes_the_image():
    spec = CondSpec(num_classes=3, sketch_resolution=16)
    G, D = build_models(ModelConfig(**{**SMALL.__dict__, "arch": "dcgan"}), 16, 1, spec)
    cond = Cond.for_spec(spec, 4)
    z = torch.randn(4, 16)
    plain = G(z, cond)
    assert D(plain, cond).shape == (4,)
    for p in G.sketch.parameters():  # an untrained encoder changes nothing; a trained one does
        torch.nn.init.normal_(p, std=0.1)
    cond.sketch, cond.sketch_mask = torch.rand(4, 1, 16, 16), torch.ones(4, dtype=torch.bool)
    assert not torch.allclose(G(z, cond), plain)


def test_dcgan_preset_discriminator_starts_with_small_logits():
    """The collapse of the first DCGAN port: a projection term over D's 4096 features gave logits
    of about ±30 at initialisation, so D was saturated from the first step."""
    torch.manual_seed(0)
    config = load_preset("dcgan-32")
    spec = CondSpec(num_classes=10)
    G, D = build_models(config.model, 32, 1, spec)
    cond = Cond.for_spec(spec, 64)
    cond.labels, cond.label_mask[:] = torch.randint(10, (64,)), True
    logits = D(torch.rand(64, 1, 32, 32) * 2 - 1, cond)
    assert logits.abs().mean() < 2.0  # the old port: about 24


def test_batchnorm_recalibration_gives_eval_mode_the_batch_statistics():
    """EMA weights never ran through the training batches: after re-estimating the statistics, a
    single image in eval mode matches what a big batch in train mode draws for it."""
    from ganstudio.models.layers import recalibrate_batchnorm

    torch.manual_seed(0)
    G, _ = build_models(ModelConfig(**{**SMALL.__dict__, "arch": "dcgan"}), 16, 1, CondSpec())
    with torch.no_grad():
        for p in G.parameters():
            p.add_(torch.randn_like(p) * 0.05)  # as an EMA update moves weights away from the stats
    z = torch.randn(2048, 16)
    with torch.no_grad():
        batch_stats = G.train()(z)
        stale = G.eval()(z[:1])
    recalibrate_batchnorm(G, lambda n: None, batches=16, batch=512)
    with torch.no_grad():
        fresh = G.eval()(z[:1])
    assert (fresh - batch_stats[:1]).abs().mean() < 0.3 * (stale - batch_stats[:1]).abs().mean()
    assert not G.training


def test_default_discriminator_is_spectral_with_projection_and_auto_keeps_batchnorm_for_labels():
    """The default preset's D is spectral-normalised with a projection term for every conditional
    model (labels-only included: it beat BatchNorm in the 10-minute bench, BENCHMARKS.md); "auto"
    still gives that D to text or sketch models and the paper's BatchNorm to labels-only ones. The
    initial logits stay small either way."""
    preset = load_preset("cpu-32")
    auto = apply_overrides(preset, ["model.d_norm=auto", "model.d_projection=false"])
    for config, spec, spectral in (
        (preset, CondSpec(num_classes=10), True),
        (preset, CondSpec(num_classes=10, text_dim=8, text_encoder="builtin"), True),
        (auto, CondSpec(num_classes=10), False),
        (auto, CondSpec(num_classes=10, text_dim=8, text_encoder="builtin"), True),
        (auto, CondSpec(num_classes=10, sketch_resolution=32), True),
    ):
        torch.manual_seed(0)
        _, D = build_models(config.model, 32, 1, spec)
        norms = [m for m in D.modules() if isinstance(m, torch.nn.BatchNorm2d)]
        assert (not norms) == spectral and (D.project is not None) == spectral
        cond = Cond.for_spec(spec, 64)
        cond.labels, cond.label_mask[:] = torch.randint(10, (64,)), True
        # the first port's projection started at about ±24: far from these (the spectral-norm
        # D with its projection term starts near ±2)
        assert D(torch.rand(64, 1, 32, 32) * 2 - 1, cond).abs().mean() < 5.0


def test_conditional_batchnorm_starts_as_the_plain_generator_and_then_follows_the_label():
    """`model.cond_norm`: the label's scale and shift after each BatchNorm start at no change, so
    the plain weights give the same image; once learnt, the label moves the image through them."""
    spec = CondSpec(num_classes=3)
    dcgan = ModelConfig(**{**SMALL.__dict__, "arch": "dcgan"})
    torch.manual_seed(0)
    plain, _ = build_models(dcgan, 16, 1, spec)
    torch.manual_seed(0)
    cbn, _ = build_models(ModelConfig(**{**dcgan.__dict__, "cond_norm": True}), 16, 1, spec)
    assert cbn.cond_norm is not None and plain.cond_norm is None
    cbn.load_state_dict(plain.state_dict(), strict=False)
    cond = Cond.for_spec(spec, 4)
    cond.labels, cond.label_mask[:] = torch.tensor([0, 1, 2, 0]), True
    z = torch.randn(4, 16)
    assert torch.allclose(plain(z, cond), cbn(z, cond), atol=1e-6)
    with torch.no_grad():
        cbn.map = lambda z, cond: z  # the label reaches the image only through the BatchNorms now
        for m in cbn.cond_norm:
            torch.nn.init.normal_(m.weight, std=0.3)
        out = cbn(z[:1].expand(3, -1), Cond.for_spec(spec, 3))
        cond.labels = torch.tensor([0, 1, 2, 0])
        labelled = cbn(z[:1].expand(4, -1), cond)
    assert not torch.allclose(labelled[0], labelled[1], atol=1e-3)
    assert not torch.allclose(labelled[0], out[0], atol=1e-3)


@pytest.mark.parametrize("d_norm", ["batch", "spectral"])
def test_class_planes_in_d_are_the_textbook_concatenation(d_norm):
    """`model.d_cond=planes`: what D's first conv adds for a label is exactly the conv of one-hot
    class planes concatenated to the image (border included), a missing label takes its own
    "absent" plane, and labels-only models keep no bias path; attributes still get one."""
    spec = CondSpec(num_classes=3)
    config = ModelConfig(**{**SMALL.__dict__, "arch": "dcgan", "d_cond": "planes", "d_norm": d_norm})
    torch.manual_seed(0)
    _, D = build_models(config, 16, 1, spec)
    assert D.cond_bias is None and D.class_conv is not None
    D.eval()  # spectral norm's power iteration moves the weight a little on each training-mode read
    images = torch.rand(4, 1, 16, 16) * 2 - 1
    cond = Cond.for_spec(spec, 4)
    cond.labels, cond.label_mask = torch.tensor([0, 1, 2, 1]), torch.tensor([True, True, True, False])
    one_hot = torch.nn.functional.one_hot(torch.tensor([0, 1, 2, 3]), 4).float()
    planes = one_hot[:, :, None, None].expand(-1, -1, 16, 16)  # the last image has no label
    expected = torch.nn.functional.conv2d(planes, D.class_conv.weight, stride=2, padding=1)
    got = D.class_planes(cond, images)
    assert torch.allclose(got, expected, atol=1e-6)
    assert not torch.allclose(got[0, :, 0, 0], got[0, :, 3, 3])  # zero padding: not a plain bias
    assert D(images, cond).shape == (4,)
    _, with_attributes = build_models(config, 16, 1, SPECS["both"])
    assert with_attributes.cond_bias is not None and with_attributes.class_conv is not None
    # ...and the class stays out of that bias: only the planes carry it
    assert with_attributes.embed.classes is None
    with_attributes.eval()
    both = Cond.for_spec(SPECS["both"], 2)
    both.labels, both.label_mask = torch.tensor([0, 1]), torch.tensor([True, True])
    x = torch.rand(1, 1, 16, 16).expand(2, -1, -1, -1)
    bias = with_attributes.cond_bias(with_attributes.embed(both, 2, "cpu"))
    assert torch.allclose(bias[0], bias[1])
    assert not torch.allclose(*with_attributes(x, both).unbind())  # the planes still tell them apart
    with pytest.raises(ValueError, match="d_cond"):
        build_models(ModelConfig(**{**config.__dict__, "d_cond": "concat"}), 16, 1, spec)
    assert load_preset("dcgan-32").model.d_cond == "planes"


def test_the_dcgan_32_port_is_the_textbook_network_weight_for_weight():
    """`dcgan-32` in the registry has the standalone script's weights (bench/dcgan_reference.py)
    and nothing more, but for a "no label" row in G's class table and an "absent" plane in D."""
    from bench import dcgan_reference

    config = load_preset("dcgan-32").model
    G, D = build_models(config, 32, 1, CondSpec(num_classes=10))
    ref_G, ref_D = dcgan_reference.Generator(10, 1), dcgan_reference.Discriminator(10, 1)

    def count(net):
        return sum(p.numel() for p in net.parameters())

    assert count(G) == count(ref_G) + config.z_dim  # the "no label" row
    assert count(D) == count(ref_D) + 64 * 4 * 4  # the "absent" plane through D's first conv
    biases = [n for n, m in [*G.named_modules(), *D.named_modules()] if getattr(m, "bias", None) is not None]
    assert all(".norms." in f".{n}" or "net." in n for n in biases), biases  # BatchNorm's shifts only
    with_bias = build_models(
        ModelConfig(**{**config.__dict__, "conv_bias": True}), 32, 1, CondSpec(num_classes=10)
    )
    assert count(with_bias[1]) == count(D) + 64 + 1 and count(with_bias[0]) == count(G) + 1


def test_words_move_the_dcgan_condition_as_much_as_a_class_does_from_the_start():
    """The caption MLP starts on the class table's scale: two unrelated captions give G and D
    conditions about as far apart as two classes (at N(0, 0.02) they differed by ~0.1%)."""
    spec = CondSpec(num_classes=9, text_encoder="minilm", text_dim=384)
    torch.manual_seed(0)
    G, D = build_models(load_preset("cpu-32").model, 32, 3, spec)
    cond = Cond.for_spec(spec, 2)
    cond.labels, cond.label_mask = torch.tensor([0, 0]), torch.tensor([True, True])
    cond.text = torch.nn.functional.normalize(torch.randn(2, 384), dim=1)
    cond.text_mask = torch.tensor([True, True])
    for embed in (G.embed, D.embed):
        with torch.no_grad():
            e = embed(cond, 2, "cpu")
            classes = embed.classes.weight[:2]
        assert (e[0] - e[1]).norm() > 0.5 * (classes[0] - classes[1]).norm()
        no_text = Cond.for_spec(spec, 1)
        no_text.labels, no_text.label_mask = torch.tensor([0]), torch.tensor([True])
        assert torch.allclose(embed(no_text, 1, "cpu")[0], classes[0])  # no caption: the class alone
