import pytest
import torch

from ganstudio.conditioning import Cond, CondSpec
from ganstudio.config import ModelConfig
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
