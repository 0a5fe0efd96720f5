import pytest

from ganstudio.config import (
    Config,
    Schedule,
    apply_overrides,
    available_presets,
    config_from_dict,
    load_preset,
)


def test_every_preset_loads_and_round_trips():
    assert {"cpu-32", "dcgan-32"} <= set(available_presets())
    for name in available_presets():
        config = load_preset(name)
        assert config_from_dict(config.to_dict()) == config


def test_overrides_are_type_checked():
    config = apply_overrides(Config(), ["train.batch=128", "train.lr_g=3e-4", "train.channels_last=false"])
    assert config.train.batch == 128
    assert config.train.lr_g == Schedule(3e-4, kind="constant")
    assert config.train.channels_last is False
    with pytest.raises(ValueError, match="integer"):
        apply_overrides(Config(), ["train.batch=big"])
    with pytest.raises(ValueError, match="unknown key 'bach'"):
        apply_overrides(Config(), ["train.bach=1"])
    with pytest.raises(ValueError, match="section.key=value"):
        apply_overrides(Config(), ["train.batch"])


def test_unknown_preset_lists_valid_ones():
    with pytest.raises(ValueError, match="cpu-32"):
        load_preset("nope")


def test_schedules_move_from_start_to_end():
    cosine = Schedule(1.0, 0.0)
    assert cosine.at(0) == 1.0 and cosine.at(1) == pytest.approx(0.0) and cosine.at(0.5) == pytest.approx(0.5)
    assert Schedule(2.0, 4.0, "linear").at(0.25) == pytest.approx(2.5)
    assert Schedule(3.0, kind="constant").at(0.7) == 3.0


def test_condition_dropout_rates():
    import torch

    from ganstudio.conditioning import Cond

    cond = Cond.empty(20000, 2)
    cond.label_mask[:] = True
    cond.attribute_mask[:] = True
    dropped = cond.drop(0.1, torch.Generator().manual_seed(0), 0.5)
    assert abs(dropped.label_mask.float().mean() - 0.9) < 0.01
    # attributes: all dropped together half the time, then each alone 10% of the time
    assert abs(dropped.attribute_mask.float().mean() - 0.45) < 0.01


def test_a_word_outside_a_closed_set_is_an_error_not_a_silent_default():
    # train.augment=of used to be kept as "of", which turned augmentation off without a word
    with pytest.raises(ValueError, match="train.augment: 'of' is not one of 'auto', 'on', 'off'"):
        apply_overrides(Config(), ["train.augment=of"])
    with pytest.raises(ValueError, match="model.d_norm"):
        apply_overrides(Config(), ["model.d_norm=spectrale"])
    assert apply_overrides(Config(), ["train.augment=yes"]).train.augment == "on"  # YAML's yes/no
    assert apply_overrides(Config(), ["train.augment=off"]).train.augment == "off"
    assert apply_overrides(Config(), ["data.channels=3"]).data.channels == "3"
