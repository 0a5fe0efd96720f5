import json
import os
import shutil
import stat

import pytest

from ganstudio import modelfolder
from ganstudio.data import DataSource


def copy_bundled(tmp_path, name="fashion-mnist"):
    target = tmp_path / name
    shutil.copytree(modelfolder.PRETRAINED_DIR / name, target)
    return target


def test_one_rule_resolves_bundled_names_model_folders_and_run_folders(tmp_path):
    assert modelfolder.resolve("fashion-mnist") == (
        modelfolder.PRETRAINED_DIR / "fashion-mnist",
        "ganstudio/fashion-mnist",
    )
    run = tmp_path / "run"
    run.mkdir()
    shutil.copytree(modelfolder.PRETRAINED_DIR / "fashion-mnist", run / ".checkpoint.old")
    assert modelfolder.resolve(run)[0] == run / ".checkpoint.old"  # an interrupted swap is recovered
    shutil.copytree(modelfolder.PRETRAINED_DIR / "fashion-mnist", run / "checkpoint")
    assert modelfolder.resolve(run)[0] == run / "checkpoint"
    shutil.copytree(modelfolder.PRETRAINED_DIR / "fashion-mnist", run / "best")
    assert modelfolder.resolve(run) == (run / "best", "run")
    assert modelfolder.resolve(run / "checkpoint")[0] == run / "checkpoint"
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "G.pkl").write_bytes(b"x")
    with pytest.raises(ValueError, match="pickle checkpoints are refused"):
        modelfolder.resolve(tmp_path / "empty")
    with pytest.raises(ValueError, match="bundled models: emoji, fashion-mnist"):
        modelfolder.resolve("nope")


def test_model_card_is_rendered_from_fields(tmp_path):
    folder = copy_bundled(tmp_path)
    modelfolder.update_card(folder, metrics="fd 1.0", notes=["A note."], command="ganstudio train …")
    card = (folder / "model_card.md").read_text()
    assert "- Metrics: fd 1.0" in card and card.rstrip().endswith("A note.")
    assert "- Command: `ganstudio train …`" in card
    assert modelfolder.ModelFolder.open(folder).card.metrics == "fd 1.0"
    modelfolder.update_card(folder, metrics="fd 2.0")  # replaced, not appended
    card = (folder / "model_card.md").read_text()
    assert card.count("- Metrics:") == 1 and "fd 2.0" in card
    with pytest.raises(ValueError, match="unknown"):
        modelfolder.update_card(folder, colour="red")


def test_exported_model_folder_is_readable_by_the_team(tmp_path):
    old = os.umask(0o022)
    try:
        target = modelfolder.export(
            modelfolder.PRETRAINED_DIR / "fashion-mnist", tmp_path / "shared" / "model"
        )
    finally:
        os.umask(old)
    assert stat.S_IMODE(target.stat().st_mode) == 0o755
    for path in target.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) & 0o044 == 0o044, path.name
    assert modelfolder.ModelFolder.open(target).build_generator() is not None
    assert (target / "nearcopy.safetensors").is_file()  # the near-copy index travels with the model


def test_data_source_is_parsed_once_for_every_form(tmp_path):
    assert DataSource.parse("fashion-mnist") == DataSource("builtin", "fashion-mnist", "train")
    assert str(DataSource.parse("fashion-mnist:test")) == "fashion-mnist:test"
    assert DataSource.parse("builtin:emoji:train").test_split() == DataSource("builtin", "emoji", "test")
    folder = DataSource.parse(f"folder:{tmp_path}/gone#abc123")
    assert folder == DataSource("folder", f"{tmp_path}/gone") and not folder.loadable()
    assert folder.test_split() == folder
    (tmp_path / "fashion-mnist").mkdir()  # a folder of that name wins over the built-in
    assert DataSource.parse(tmp_path / "fashion-mnist").kind == "folder"
    with pytest.raises(ValueError, match="split 'val' is unknown"):
        DataSource.parse("fashion-mnist:val")
    with pytest.raises(ValueError, match="built-in datasets: emoji, emoji-font, fashion-mnist"):
        DataSource.parse("no-such-data")


def test_json_parts_are_written_atomically(tmp_path, monkeypatch):
    from ganstudio import modelfolder

    path = tmp_path / "dataset.json"
    modelfolder.write_json(path, {"a": 1})

    write_text = type(path).write_text

    def crash(self, text, *args, **kwargs):  # the disk fills half-way through the new file
        write_text(self, text[: len(text) // 2], *args, **kwargs)
        raise OSError("disk full")

    monkeypatch.setattr(type(path), "write_text", crash)
    with pytest.raises(OSError):
        modelfolder.write_json(path, {"a": 2})
    monkeypatch.undo()
    assert json.loads(path.read_text()) == {"a": 1}  # the old file, whole
