"""The coverage check: a prompt far from every training caption gets a note naming what the model
knows (or, strict, a refusal); the bank in the model folder is read as untrusted."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import save_file

from ganstudio.conditioning import coverage
from ganstudio.conditioning.coverage import Coverage
from ganstudio.pipeline import GenerationPipeline


def unit(rows):
    return torch.nn.functional.normalize(torch.tensor(rows, dtype=torch.float32), dim=1)


def test_thinning_drops_near_duplicates_and_keeps_the_rest():
    bank = unit([[1, 0, 0], [1, 0.01, 0], [0, 1, 0], [0, 1, 0.02], [0, 0, 1]])
    assert coverage.thin(bank, 0.9, chunk=2) == [0, 2, 4]


def test_the_bank_is_each_images_shortest_caption():
    captions = [["a red bag", "a bag"], ["a bag"], ["a shoe", "a black shoe"], []]
    texts = ["a red bag", "a bag", "a shoe", "a black shoe"]
    embeddings = unit([[1, 1, 0], [1, 0, 0], [0, 1, 0], [0, 1, 1]])
    bank = coverage.build(captions, texts, embeddings, threshold=0.5)
    assert sorted(bank.names) == ["a bag", "a shoe"]
    score, nearest = bank.score(torch.tensor([[2.0, 0.1, 0.0]]))
    assert nearest[0] == "a bag" and score > 0.99
    entry, note = bank.note("a thing", torch.tensor([[0.0, 0.0, 1.0]]))
    assert entry["covered"] is False and "'a bag'" in note and "'a shoe'" in note


def test_the_bank_holds_captions_without_their_describing_words():
    captions = [["a dark bag"], ["a bag"], ["white wide top", "a top with long sleeves"]]
    texts = ["a dark bag", "a bag", "white wide top", "a top with long sleeves"]
    embeddings = unit([[1, 0.2, 0], [1, 0, 0], [0, 1, 0.2], [0, 1, 0.3]])
    encoded = []

    def encode(names):
        encoded.extend(names)
        return unit([[0, 1, 0]] * len(names))

    bank = coverage.build(captions, texts, embeddings, threshold=0.5, encode=encode)
    assert sorted(bank.names) == ["a bag", "top"] and encoded == ["top"]  # "a bag" reused
    old = Coverage(unit([[1, 0.2, 0], [1, 0, 0]]), ["a dark bag", "a bag"], 0.4)
    again = coverage.restrip(old, lambda names: unit([[1, 0, 0]] * len(names)))
    assert again.names == ["a bag"] and again.threshold == 0.4


def test_saved_bank_round_trips_and_hostile_files_are_refused(tmp_path):
    bank = Coverage(unit([[1, 0, 0], [0, 1, 0]]), ["a bag", "a shoe"], 0.45)
    path = bank.save(tmp_path)
    back = Coverage.load(tmp_path, 3)
    assert back.names == bank.names and back.threshold == 0.45
    assert (back.bank - bank.bank).abs().max() < 0.01  # int8 codes
    assert path.stat().st_mode & 0o044  # a model folder is for sharing
    with pytest.raises(ValueError, match="bank"):
        Coverage.load(tmp_path, 4)  # another encoder's width
    for meta in ({"names": json.dumps(["one"]), "threshold": "0.4"}, {"names": "[]", "threshold": "nan"}):
        save_file({"bank": torch.zeros(2, 3, dtype=torch.int8)}, str(path), metadata=meta)
        with pytest.raises(ValueError):
            Coverage.load(tmp_path, 3)
    save_file({"bank": torch.zeros(2, 3, dtype=torch.int8), "more": torch.zeros(1)}, str(path))
    with pytest.raises(ValueError, match="bank"):
        Coverage.load(tmp_path, 3)


@pytest.fixture(scope="module")
def fashion():
    return GenerationPipeline.from_pretrained("fashion-mnist")


def test_a_prompt_the_model_cannot_draw_gets_a_note_and_strict_refuses(fashion):
    result = fashion(n=1, seed=0, prompt="a laptop")
    record = result.metadata[0]["coverage"]
    assert record["covered"] is False and record["score"] < record["threshold"]
    assert any("may not know what 'a laptop' is" in note for note in result.notes)
    with pytest.raises(ValueError, match="strict"):
        fashion(n=1, seed=0, prompt="a laptop", strict=True)
    french = fashion(n=1, seed=0, prompt="un ordinateur portable")
    assert french.metadata[0]["coverage"]["covered"] is False  # judged in any language
    known = fashion(n=1, seed=0, prompt="a dark ankle boot", strict=True)
    assert known.metadata[0]["coverage"]["covered"] is True and not known.notes
