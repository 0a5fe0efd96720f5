"""Describing words: the lexicon's reading of a prompt, the class's own quantiles as targets, the
model's text path measured before an attribute is added, and the words reaching the image."""

from __future__ import annotations

import json

import pytest
import torch

from ganstudio import wordsteer
from ganstudio.conditioning import describing
from ganstudio.data import attributes as measured
from ganstudio.imaging import to_uint8
from ganstudio.pipeline import GenerationPipeline

GREY = ["brightness", "coverage"]
COLOUR = ["brightness", "coverage", "saturation", "hue"]


def test_words_become_targets_with_their_strength():
    reading = describing.read("a very dark, slightly wide coat", GREY, 1)
    assert reading.targets["brightness"][0] == -2.0  # steps in the class's standard deviations
    assert reading.targets["coverage"][0] == 0.5
    assert describing.read("a light shirt", GREY, 1).targets["brightness"][0] == 1.0
    assert not describing.read("a dark and light shirt", GREY, 1).targets  # opposites: not read
    # "a little dark": a modifier, not a size; "a little bag": a size
    assert set(describing.read("a little dark coat", GREY, 1).targets) == {"brightness"}
    assert set(describing.read("a little bag", GREY, 1).targets) == {"coverage"}


def test_words_the_model_cannot_follow_are_reported_not_dropped():
    grey = describing.read("a red leather bag", GREY, 1)
    assert not grey.targets
    assert any("'red'" in n and "grey" in n for n in grey.notes)
    assert any("'leather'" in n and "no condition" in n for n in grey.notes)
    striped = describing.read("a striped shirt", GREY, 1)
    assert not striped.targets and "'striped'" in striped.notes[0]
    assert describing.read("a striped shirt", [*GREY, "texture"], 1).targets["texture"][0] == 1.0
    negated = describing.read("a shirt that is not dark", GREY, 1)
    assert not negated.targets and "not dark" in negated.notes[0]
    # black and white on a grey model are brightness alone: no note about saturation
    black = describing.read("a black dress", GREY, 1)
    assert set(black.targets) == {"brightness"} and not black.notes


def test_colour_words_set_hue_and_saturation_on_colour_models():
    red = describing.read("a reddish car", COLOUR, 3)
    assert red.targets["hue"][0] == describing.HUES["red"]
    assert red.targets["saturation"][0] > 0.5
    # hues average on the circle: red (0.0) and scarlet (0.99) give a red, not a cyan
    mixed = describing.read("a red and scarlet car", COLOUR, 3).targets["hue"][0]
    assert min(mixed, 1 - mixed) < 0.02


def test_steps_follow_the_class_and_stay_where_the_model_draws_well():
    levels = [0.02, 0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.98]
    stats = {
        "min": 0.0, "max": 1.0, "mean": 0.5, "std": 0.1,
        "quantiles": {"levels": levels, "all": [0.3 + 0.4 * q for q in levels],
                      "by_class": [[0.45 + 0.1 * q for q in levels], None]},
    }  # fmt: skip
    assert describing.class_quantile(stats, 0.25, 0) == pytest.approx(0.475)  # the class's own
    assert describing.class_quantile(stats, 0.25, 1) == pytest.approx(0.4)  # no quantiles: all images
    assert describing.class_quantile(stats, 0.01, None) == pytest.approx(0.308)  # below the lowest level
    narrow, wide = describing.class_spread(stats, 0), describing.class_spread(stats, 1)
    assert narrow == pytest.approx(0.05 / 1.349) and wide == pytest.approx(4 * narrow)
    assert describing.stepped(stats, 0.5, -1.0, 0) == pytest.approx(0.5 - narrow)  # a step of the class
    assert describing.stepped(stats, 0.5, -1.0, 1) == pytest.approx(0.5 - wide)
    assert describing.stepped(stats, 0.46, -2.0, 0) == pytest.approx(0.452)  # not below the class's 2%
    assert describing.stepped(stats, 0.44, -1.0, 0) == 0.44  # already below: never moved the other way
    stats["quantiles"]["all"] = [0.0 + 1.0 * q for q in levels]
    assert describing.stepped(stats, 0.35, -1.0, None) == pytest.approx(0.3)  # within 2σ of all images
    bare = {"min": 0.0, "max": 1.0, "mean": 0.5, "std": 0.1}  # an older folder: a normal guess
    assert describing.class_quantile(bare, 0.5, 3) == pytest.approx(0.5)
    assert describing.class_spread(bare, None) == pytest.approx(0.1, rel=0.01)


def test_follows_needs_most_seeds_and_a_real_step():
    base = torch.linspace(0.3, 0.7, 20)
    assert describing.follows(base, base - 0.08, "brightness", -1.0, 0.1) == (True, 1.0)
    assert not describing.follows(base, base - 0.08, "brightness", 1.0, 0.1)[0]  # the other way
    assert not describing.follows(base, base - 0.01, "brightness", -1.0, 0.1)[0]  # too small a step
    mixed = base - torch.tensor([0.2, -0.2] * 10)
    assert not describing.follows(base, mixed, "brightness", -1.0, 0.1)[0]  # half the seeds
    assert describing.follows(torch.full((4,), 0.5), torch.full((4,), 0.95), "hue", 0.0, 1.0)[0]


def test_worded_fits_the_article():
    assert describing.worded("an umbrella", "red") == "a red umbrella"
    assert describing.worded("a shirt", "orange") == "an orange shirt"
    assert describing.worded("trousers", "dark") == "a dark trousers"


@pytest.fixture(scope="module")
def fashion():
    return GenerationPipeline.from_pretrained("fashion-mnist")


def coverage(images: torch.Tensor) -> torch.Tensor:
    return measured.measure(to_uint8(images))[:, 1]


@pytest.mark.parametrize("noun", ["dress", "shirt"])  # the condition; a latent step
def test_a_size_word_moves_each_image_by_the_means_the_model_follows(fashion, noun):
    base = fashion(prompt=f"a {noun}", n=16, seed=3)
    small = fashion(prompt=f"a small {noun}", n=16, seed=3)
    assert (coverage(small.tensors) < coverage(base.tensors)).float().mean() >= 0.75
    assert "from_words" not in base.metadata[0]
    how = wordsteer.means(fashion, "coverage", -1.0, fashion.class_names.index(noun))
    if how == "latent":  # the model follows a latent step better than its condition for this class
        assert all(r["from_words"] == {"latent_steps": {"coverage": -1.0}} for r in small.metadata)
        assert any(
            "steered in the latent" in n and "better than its coverage condition" in n for n in small.notes
        )
        return
    fashion.describing_words = "off"
    try:
        first = coverage(fashion(prompt=f"a small {noun}", n=16, seed=3).tensors)  # the words' first drawing
    finally:
        fashion.describing_words = "auto"
    asked = torch.tensor([r["from_words"]["attributes"]["coverage"] for r in small.metadata])
    assert (asked <= first + 1e-4).all() and (asked < first).float().mean() > 0.8  # a step down from each
    assert any("'small' → coverage one standard deviation" in n for n in small.notes)


def test_the_model_gets_the_means_it_follows_per_class(fashion):
    # measured on its own drawings: fashion-mnist learnt its coverage condition for shoes, not for tops
    shirt, sandal = (fashion.class_names.index(c) for c in ("shirt", "sandal"))
    assert wordsteer.means(fashion, "coverage", -1.0, shirt) == "latent"
    assert wordsteer.means(fashion, "coverage", -1.0, sandal) == "condition"
    assert wordsteer.means(fashion, "texture", 1.0, shirt) == "latent"  # no condition at all
    # a larger sandal: neither moves most drawings, and the user is told
    assert any("expect little change" in n for n in fashion(prompt="a large sandal", n=1, seed=0).notes)


def test_a_given_value_wins_over_the_words(fashion):
    result = fashion(prompt="a small bag", attributes={"coverage": 0.45}, n=2, seed=0)
    assert "from_words" not in result.metadata[0]
    assert any("not read: coverage=0.45 was given" in n for n in result.notes)
    assert torch.equal(
        result.tensors, fashion(prompt="a small bag", attributes={"coverage": 0.45}, n=2, seed=0).tensors
    )


def test_words_the_text_path_follows_get_no_attribute(fashion):
    follows, rate = wordsteer.text_follows(fashion, ("dark",), "brightness", -1.0)
    assert follows and rate >= describing.FOLLOW_RATE  # the captions carried "dark"
    result = fashion(prompt="a dark shirt", n=2, seed=0)
    assert result.metadata[0]["from_words"] == {"text": {"brightness": "dark"}} and not result.notes
    fashion.describing_words = "off"
    try:
        assert not fashion(prompt="a small bag", n=1, seed=0).notes
    finally:
        fashion.describing_words = "auto"


def test_malformed_quantiles_in_dataset_json_are_refused(tmp_path, fashion):
    from ganstudio.untrusted import check_dataset_info

    info = json.loads(json.dumps(fashion.dataset_info))
    check_dataset_info(info, tmp_path)
    info["attributes"]["brightness"]["quantiles"]["all"] = [0.1, float("nan")]
    with pytest.raises(ValueError, match="malformed quantiles"):
        check_dataset_info(info, tmp_path)
    info["attributes"]["brightness"]["quantiles"] = {"levels": [0.5], "by_class": [[0.1]] * 11}
    with pytest.raises(ValueError, match="malformed quantiles"):
        check_dataset_info(info, tmp_path)


def texture(images: torch.Tensor) -> torch.Tensor:
    return measured.texture(to_uint8(images))


def test_texture_words_step_the_latent_of_the_class(fashion):
    plain = fashion(prompt="a shirt", n=24, seed=0)
    patterned = fashion(prompt="a patterned shirt", n=24, seed=0)
    smooth = fashion(prompt="a plain shirt", n=24, seed=0)
    assert patterned.metadata[0]["from_words"] == {"latent_steps": {"texture": 1.0}}
    assert any("steered in the latent" in n for n in patterned.notes)
    step = wordsteer.latent_step(fashion, "texture", fashion.class_names.index("shirt"))
    assert 0 < step.norm() <= wordsteer.MAX_STEP * len(step) ** 0.5 + 1e-5
    up = (texture(patterned.tensors) > texture(plain.tensors)).float().mean()
    down = (texture(smooth.tensors) < texture(plain.tensors)).float().mean()
    assert up >= 0.6 and down >= 0.6  # most seeds move the named way (the bench measures the rate)
    striped = fashion(prompt="a striped shirt", n=1, seed=0)
    assert any("read as more texture" in n for n in striped.notes)


def test_the_coverage_check_sees_the_thing_not_its_describing_words():
    assert describing.without_describing_words("a very dark striped shirt") == "a shirt"
    assert describing.without_describing_words("a red leather bag, please") == "a bag, please"
    assert describing.without_describing_words("a laptop") == "a laptop"
    assert describing.without_describing_words("dark") == "dark"  # nothing but describing words: kept


def test_a_blocked_near_copy_is_redrawn_with_the_words_latent_step():
    from ganstudio.config import DataConfig
    from ganstudio.data.builtin import fashion_mnist
    from ganstudio.provenance.nearcopy import NearCopyIndex

    pipe = GenerationPipeline.from_pretrained("fashion-mnist")
    pipe.watermark = None
    drawn = pipe(n=2, seed=0, prompt="a patterned shirt")
    real = fashion_mnist(DataConfig(), "test").images[:2000]
    pipe.nearcopy = NearCopyIndex.build(
        torch.cat([to_uint8(drawn.tensors), real])
    )  # seeds 0-1 are "training data"
    blocked = pipe(n=2, seed=0, prompt="a patterned shirt", on_copy="block")
    assert [r["seed"] for r in blocked.metadata] == [2, 3]
    pipe.nearcopy = None
    again = pipe(n=2, seed=2, prompt="a patterned shirt")  # seeds 2-3 with the same step
    assert torch.allclose(blocked.tensors, again.tensors, atol=1e-4)


def test_latent_steps_together_stay_within_the_cap():
    start = torch.zeros(2, 100)
    far = start + torch.tensor([[1.0] * 100, [0.01] * 100])  # 10 and 0.1 long
    notes: list[str] = []
    capped = wordsteer._capped(start, far, notes)
    longest = wordsteer.MAX_STEP * 100**0.5
    assert capped[0].norm() == pytest.approx(longest) and torch.equal(capped[1], far[1])
    assert notes and "shortened" in notes[0]
    assert wordsteer._capped(start, start, []) is start  # no step, nothing to do


def test_what_the_probes_found_is_kept_for_the_next_run(tmp_path, monkeypatch):
    monkeypatch.setenv("GANSTUDIO_CACHE", str(tmp_path))
    first = GenerationPipeline.from_pretrained("fashion-mnist")
    drawn = first(prompt="a small patterned shirt", n=2, seed=0)
    stored = list((tmp_path / "words").glob("*.json"))
    assert len(stored) == 1 and "fashion-mnist@" in stored[0].name
    second = GenerationPipeline.from_pretrained("fashion-mnist")  # a new process, as the CLI is
    calls = []
    real = second.generate
    monkeypatch.setattr(second, "generate", lambda *a, **k: (calls.append(len(a[0])), real(*a, **k))[1])
    again = second(prompt="a small patterned shirt", n=2, seed=0)
    assert calls == [2]  # the images themselves only: no probe drawn again
    assert torch.equal(drawn.tensors, again.tensors) and drawn.notes == again.notes
    stored[0].write_text("{not json")  # a damaged file is measured anew, not trusted
    third = GenerationPipeline.from_pretrained("fashion-mnist")
    assert torch.equal(third(prompt="a small patterned shirt", n=2, seed=0).tensors, drawn.tensors)
