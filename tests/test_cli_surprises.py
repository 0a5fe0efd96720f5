"""What a first-time user tripped over in the CLI: each case is one clear outcome."""

import pytest
import torch

from ganstudio import __version__
from ganstudio.cli import main
from ganstudio.provenance import read_provenance as read_png_provenance


def generate(tmp_path, *args):
    return main(["generate", "--model", "fashion-mnist", "--out", str(tmp_path / "out"), *args])


def test_generating_twice_into_one_folder_keeps_the_first_results(tmp_path, capsys):
    assert generate(tmp_path, "--label", "bag", "-n", "1", "--seed", "0") == 0
    assert "wrote 1 image and a grid" in capsys.readouterr().out
    first = (tmp_path / "out" / "grid.png").read_bytes()
    assert generate(tmp_path, "--label", "bag", "-n", "1", "--seed", "5") == 0
    out = capsys.readouterr().out
    names = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert names == ["grid-2.png", "grid.png", "image-bag-000000.png", "image-bag-000005.png"]
    assert (tmp_path / "out" / "grid.png").read_bytes() == first and "grid-2.png" in out
    assert generate(tmp_path, "--label", "bag", "-n", "1", "--seed", "0", "--overwrite") == 0
    assert not (tmp_path / "out" / "grid-3.png").exists()
    assert "//" not in out


def test_conflicting_or_repeated_flags_are_errors(tmp_path, capsys):
    assert generate(tmp_path, "--per-class", "2", "--label", "bag") == 2
    assert "--per-class draws every class" in capsys.readouterr().err
    assert generate(tmp_path, "--per-class", "2", "-n", "3") == 2
    assert generate(tmp_path, "--per-class", "0") == 2
    assert "at least one image per class" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        generate(tmp_path, "--prompt", "a bag", "--prompt", "a boot")
    assert "--prompt was given twice" in capsys.readouterr().err
    (tmp_path / "file.png").write_bytes(b"x")
    assert main(["generate", "--label", "bag", "-n", "1", "--out", str(tmp_path / "file.png")]) == 2
    assert "is a file" in capsys.readouterr().err
    assert generate(tmp_path, "--seed", str(2**63), "-n", "1") == 2
    assert "seed" in capsys.readouterr().err


def test_random_seed_is_printed_and_recorded(tmp_path, capsys):
    assert generate(tmp_path, "--label", "bag", "-n", "1", "--seed", "random") == 0
    err = capsys.readouterr().err
    seed = int(err.split("seed: ")[1].split()[0])
    image = next((tmp_path / "out").glob("image-*.png"))
    assert read_png_provenance(image)["record"]["seed"] == seed


def test_prompts_file_draws_a_labelled_row_per_prompt(tmp_path, capsys):
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("# my prompts\na dark ankle boot\n\nwhite sneakers\n")
    assert generate(tmp_path, "--prompts-file", str(prompts), "-n", "2") == 0
    assert "wrote 4 images" in capsys.readouterr().out
    records = [read_png_provenance(p)["record"] for p in (tmp_path / "out").glob("image-*.png")]
    assert sorted({r["prompt"] for r in records}) == ["a dark ankle boot", "white sneakers"]
    prompts.write_text("\n# nothing\n")
    assert generate(tmp_path, "--prompts-file", str(prompts)) == 2
    assert "holds no prompts" in capsys.readouterr().err


def test_long_prompt_gets_a_note_not_a_python_warning(tmp_path, capsys, recwarn):
    assert generate(tmp_path, "--prompt", "boot " * 60, "-n", "1") == 0
    err = capsys.readouterr().err
    assert "note: the prompt has 60 words; only the first 48 were used" in err
    assert not [w for w in recwarn if "words" in str(w.message)]


def test_version_and_defaults_in_help(capsys):
    with pytest.raises(SystemExit):
        main(["--version"])
    assert f"ganstudio {__version__}" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["generate", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    assert "lower is more typical, less varied (default: 1.0)" in help_text  # --truncation
    assert "--device DEVICE auto (a GPU when present), cpu or cuda (default: auto)" in help_text


def test_generated_images_and_grids_save_marked_in_the_format_asked(tmp_path):
    from PIL import Image

    from ganstudio.pipeline import GenerationPipeline
    from ganstudio.provenance import read_provenance

    result = GenerationPipeline.from_pretrained("fashion-mnist")(n=2, seed=3, label="bag")
    for name, fmt in (("a.jpg", "JPEG"), ("a.webp", "WEBP"), ("a.png", "PNG")):
        result.images[0].save(tmp_path / name)  # the obvious call writes a marked file
        report = read_provenance(tmp_path / name)
        assert report["format"] == fmt and report["ai_generated"] and report["record"]["seed"] == 3
    result.grid().save(tmp_path / "grid.jpg")
    with Image.open(tmp_path / "grid.jpg") as grid:
        assert grid.format == "JPEG"
    assert read_provenance(tmp_path / "grid.jpg")["record"]["seed"] == [3, 4]
    with pytest.raises(ValueError, match="written as .png, .jpg"):
        result.images[0].save(tmp_path / "a.bmp")
    assert type(result.images[0].resize((8, 8))) is Image.Image  # an edit is no longer the model's image


def test_large_n_streams_to_disk_and_the_grid_is_capped(tmp_path, capsys):
    from PIL import Image

    from ganstudio.pipeline import GenerationPipeline

    pipe = GenerationPipeline.from_pretrained("fashion-mnist")
    chunks = list(pipe.stream(10, seed=4, chunk=4, label="bag"))
    assert [len(c.images) for c in chunks] == [4, 4, 2]
    whole = pipe(n=10, seed=4, label="bag").tensors
    assert torch.allclose(torch.cat([c.tensors for c in chunks]), whole, atol=1e-5)
    assert generate(tmp_path, "-n", "300", "--label", "bag", "--format", "webp") == 0
    files = sorted((tmp_path / "out").iterdir())
    assert len(files) == 301 and all(f.suffix == ".webp" for f in files)
    assert "showing the first 256" in capsys.readouterr().out
    with Image.open(tmp_path / "out" / "grid.webp") as grid:
        assert grid.height < 33 * 64 + 100  # 256 images in rows of 8, not 300


def test_non_latin_prompts_work_and_huge_sketches_are_refused(tmp_path, capsys):
    from tests.hostile import png_header_only

    assert generate(tmp_path, "--prompt", "日本語 ブーツ", "-n", "1") == 0
    assert "no Latin-script words" in capsys.readouterr().err
    png_header_only(tmp_path / "bomb.png", 20000, 20000)
    assert generate(tmp_path, "--sketch", str(tmp_path / "bomb.png"), "-n", "1", "--overwrite") == 2
    assert "scale it down" in capsys.readouterr().err


def test_verify_reports_the_marks_of_each_file(tmp_path, capsys):
    import json

    from PIL import Image

    assert generate(tmp_path, "--label", "bag", "-n", "1", "--seed", "0", "--format", "jpeg") == 0
    plain = tmp_path / "plain.png"
    Image.new("RGB", (8, 8)).save(plain)
    capsys.readouterr()
    marked = str(tmp_path / "out" / "image-bag-000000.jpg")
    assert main(["verify", marked]) == 0
    out = capsys.readouterr().out
    assert "made by ganstudio" in out and "watermark: detected" in out and "C2PA: signature valid" in out
    assert main(["verify", "--json", marked, str(plain), str(tmp_path / "missing.png")]) == 1
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["ganstudio"] for r in rows] == [True, False, False]
    assert rows[0]["metadata"]["record"]["label"] == "bag" and rows[0]["watermark"]["detected"]


def test_n_below_one_is_refused_and_the_default_seed_is_new_each_run(tmp_path, capsys):
    for n in ("0", "-3"):
        assert generate(tmp_path, "-n", n) == 2
        err = capsys.readouterr().err
        assert f"-n {n}" in err and "chunk" not in err
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())
    seeds = set()
    for _ in range(2):
        assert generate(tmp_path, "--label", "bag", "-n", "1", "--overwrite") == 0
        seeds.add(next(line for line in capsys.readouterr().err.splitlines() if line.startswith("seed:")))
    assert len(seeds) == 2  # two runs, two seeds, each printed


def test_vary_refuses_a_bad_strength_before_inverting(tmp_path, capsys):
    from PIL import Image

    Image.new("L", (28, 28), 40).save(tmp_path / "in.png")
    assert main(["vary", str(tmp_path / "in.png"), "--strength", "1.5", "--out", str(tmp_path / "v")]) == 2
    captured = capsys.readouterr()
    assert "--strength 1.5" in captured.err and "fitting" not in captured.out + captured.err


def test_files_are_named_by_what_was_asked_for(tmp_path):
    """A prompt names its files even when the label prior read a class from it; a class asked
    for names them itself."""
    assert generate(tmp_path, "--prompt", "a dark ankle boot", "-n", "1", "--seed", "3") == 0
    assert (tmp_path / "out" / "image-a-dark-ankle-boot-000003.png").is_file()
    assert generate(tmp_path, "--label", "bag", "--prompt", "a small purse", "-n", "1", "--seed", "3") == 0
    assert (tmp_path / "out" / "image-bag-000003.png").is_file()
