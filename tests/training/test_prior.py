"""The label prior: fitted on the training data, it reads the class a prompt or a sketch asks
for, and the pipeline passes that class to the generator when the user gives none."""

import pytest
import torch
from safetensors.torch import load_file

from ganstudio import GenerationPipeline
from ganstudio.conditioning import Cond, CondSpec
from ganstudio.conditioning.prior import LabelPrior
from ganstudio.config import Config, apply_overrides
from ganstudio.modelfolder import load_label_prior, save_label_prior
from ganstudio.training.conditions import TrainingText, cond_spec
from ganstudio.training.loop import train
from ganstudio.training.prior import add_label_prior, fit_label_prior
from tests.conftest import TINY, captioned_shapes


def test_heads_combine_as_independent_evidence_and_only_fill_missing_labels():
    spec = CondSpec(num_classes=3, text_encoder="builtin", text_dim=4, sketch_resolution=8)
    prior = LabelPrior(spec).eval()
    with torch.no_grad():
        prior.text.weight.zero_()
        prior.text.bias.copy_(torch.tensor([2.0, 0.0, 0.0]))  # the prompt says class 0
    cond = Cond.for_spec(spec, 4)
    cond.text_mask[:] = torch.tensor([True, True, False, False])
    cond.label_mask[1], cond.labels[1] = True, 2  # a label the user gave wins
    cond.sketch_mask[3] = True
    sketch_only = prior.log_probs(cond)[3]
    text_only = prior.log_probs(cond.select(slice(0, 1)))[0]
    assert torch.allclose(text_only, torch.log_softmax(prior.text.bias, 0), atol=1e-5)
    cond.text_mask[3] = True  # prompt and sketch together: the product of both heads
    both = prior.log_probs(cond)[3]
    assert torch.allclose(both, torch.log_softmax(sketch_only + text_only, 0), atol=1e-5)
    inferred = prior.infer_labels(cond)
    assert inferred.label_mask.tolist() == [True, True, False, True]
    assert inferred.labels[0] == 0 and inferred.labels[1] == 2
    assert not cond.label_mask[0], "the caller's Cond is not changed"


def test_fitted_heads_read_the_class_from_text_and_from_outlines(tmp_path):
    dataset = captioned_shapes(200, labels=True)
    text = TrainingText.load(dataset, "builtin")
    sketches = torch.zeros(200, 1, 16, 16, dtype=torch.uint8)
    sketches[dataset.labels == 0, :, :, 7:9] = 255  # squares: a vertical stroke
    sketches[dataset.labels == 1, :, 7:9, :] = 255  # dots: a horizontal stroke
    spec = cond_spec(dataset, text.encoder, text.embeddings.shape[1], sketches)
    prior = fit_label_prior(dataset, spec, text, sketches, kimg=4)
    assert prior.report["text_acc"] == 1.0 and prior.report["sketch_acc"] >= 0.9
    cond = Cond.for_spec(spec, 2)
    cond.text = text.embeddings[text.table.index[:2, 0]]  # image 0 is a square, image 1 a dot
    cond.text_mask[:] = True
    assert prior.infer_labels(cond).labels.tolist() == [0, 1]
    save_label_prior(prior, tmp_path)
    loaded = load_label_prior(tmp_path, spec)
    assert torch.equal(loaded.log_probs(cond), prior.log_probs(cond))
    assert loaded.report == prior.report


@pytest.fixture(scope="module")
def text_run(tmp_path_factory):
    run = tmp_path_factory.mktemp("run")
    config = apply_overrides(Config(), TINY + ["model.text_encoder=builtin", "train.prior_kimg=2"])
    train(config, captioned_shapes(64, labels=True), run, kimg=0.016)
    return run


def test_a_prompt_without_a_label_gets_the_class_it_names(text_run):
    pipe = GenerationPipeline.from_pretrained(text_run)
    assert pipe.label_prior is not None
    result = pipe(n=2, seed=3, prompt="a small dim dot")
    assert [r["label"] for r in result.metadata] == ["dot", "dot"]
    assert all(r["label_inferred"] for r in result.metadata)
    given = pipe(n=2, seed=3, prompt="a small dim dot", label="dot")
    assert torch.equal(result.tensors, given.tensors)
    assert not given.metadata[0]["label_inferred"]
    plain = pipe(n=2, seed=3, prompt="a small dim dot", infer_label=False)
    assert plain.metadata[0]["label"] is None
    assert not torch.equal(plain.tensors, result.tensors)
    assert pipe(n=1, seed=3, label="square").metadata[0]["label_inferred"] is False


def test_fit_prior_adds_one_to_an_older_model_and_checks_the_data(text_run, tmp_path):
    import shutil

    from ganstudio.conditioning.prior import PRIOR_FILE

    folder = tmp_path / "model"
    shutil.copytree(text_run / "checkpoint", folder)
    (folder / PRIOR_FILE).unlink()
    assert GenerationPipeline.from_pretrained(folder).label_prior is None
    wrong = captioned_shapes(32, labels=True).save(tmp_path / "other.gsd")
    with pytest.raises(ValueError, match="not the data"):
        add_label_prior(folder, str(wrong), kimg=1)
    right = captioned_shapes(64, labels=True).save(tmp_path / "data.gsd")
    add_label_prior(folder, str(right), kimg=1)
    assert GenerationPipeline.from_pretrained(folder).label_prior is not None


def test_a_fine_tune_on_the_same_data_keeps_the_prior_and_refits_on_other_data(text_run, tmp_path):
    from ganstudio.conditioning.prior import PRIOR_FILE

    config = apply_overrides(Config(), TINY + ["model.text_encoder=builtin", "train.prior_kimg=2"])
    source = load_file(str(text_run / "checkpoint" / PRIOR_FILE))
    train(config, captioned_shapes(64, labels=True), tmp_path / "same", kimg=0.008, init_from=text_run)
    same = load_file(str(tmp_path / "same" / "checkpoint" / PRIOR_FILE))
    assert same.keys() == source.keys() and all(torch.equal(v, source[k]) for k, v in same.items())
    train(config, captioned_shapes(48, labels=True), tmp_path / "other", kimg=0.008, init_from=text_run)
    other = load_file(str(tmp_path / "other" / "checkpoint" / PRIOR_FILE))
    assert any(not torch.equal(v, source[k]) for k, v in other.items())  # fitted on the new data
