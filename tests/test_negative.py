"""Negative prompts: what they name is steered away from (the class the label prior picks and w),
a request without one is drawn exactly as before even beside one that has one, and every face
takes them."""

from __future__ import annotations

import pytest
import torch

from ganstudio.pipeline import GenerationPipeline


@pytest.fixture(scope="module")
def pipe():
    return GenerationPipeline.from_pretrained("fashion-mnist")


def test_negative_moves_the_inferred_class_away(pipe):
    plain = pipe(prompt="a sneaker shoe", n=4, seed=1)
    assert {r["label"] for r in plain.metadata} == {"sneaker"}
    steered = pipe(prompt="a sneaker shoe", negative="sneaker", n=4, seed=1)
    labels = {r["label"] for r in steered.metadata}
    assert "sneaker" not in labels and labels <= {"sandal", "ankle boot"}
    assert steered.metadata[0]["negative"] == "sneaker"
    assert steered.metadata[0]["negative_strength"] == 1.0


def test_negative_moves_w_even_with_a_given_label(pipe):
    plain = pipe(label="dress", prompt="a dress", n=2, seed=5)
    steered = pipe(label="dress", prompt="a dress", negative="a dark dress", n=2, seed=5)
    assert [r["label"] for r in steered.metadata] == ["dress", "dress"]  # the user's class stays
    assert not torch.equal(plain.tensors, steered.tensors)
    stronger = pipe(
        label="dress", prompt="a dress", negative="a dark dress", negative_strength=2.0, n=2, seed=5
    )
    first = (steered.tensors - plain.tensors).abs().mean()
    assert (stronger.tensors - plain.tensors).abs().mean() > first


def test_a_request_without_negative_is_unchanged_beside_one_with(pipe):
    alone = pipe(prompt="a bag", n=3, seed=9)
    pipe.watermark, kept = None, pipe.watermark
    try:
        both = pipe.run(
            [
                pipe.prepare(3, 9, prompt="a bag"),
                pipe.prepare(3, 20, prompt="a coat", negative="a long coat"),
            ]
        )
        again = pipe.run([pipe.prepare(3, 9, prompt="a bag")])
    finally:
        pipe.watermark = kept
    assert torch.allclose(both[0].tensors, again[0].tensors, atol=1e-5)
    assert alone.metadata[0].get("negative") is None


def test_bad_negatives_are_refused(pipe):
    with pytest.raises(ValueError, match="negative_strength"):
        pipe(prompt="a bag", negative="a coat", negative_strength=0)
    with pytest.raises(ValueError, match="negative_strength"):
        pipe(prompt="a bag", negative="a coat", negative_strength=9)
    with pytest.raises(ValueError):
        pipe(prompt="a bag", negative="   ")


def test_cli_negative(tmp_path, capsys):
    import json

    from ganstudio.cli import main
    from ganstudio.provenance.metadata import read_provenance

    out = tmp_path / "out"
    code = main(
        [
            "generate",
            "--prompt",
            "a shoe",
            "--negative",
            "sneaker",
            "-n",
            "2",
            "--seed",
            "3",
            "--out",
            str(out),
        ]
    )
    assert code == 0, capsys.readouterr().err
    files = sorted(p for p in out.glob("image-*.png"))
    record = read_provenance(files[0])["record"]
    assert record["negative"] == "sneaker" and record["label"] != "sneaker", json.dumps(record)
