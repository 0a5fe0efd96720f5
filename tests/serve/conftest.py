"""A tiny served model (classes, attributes, builtin-encoder prompts, sketches; untrained weights:
the API is under test, not the images) and a client for the app."""

import pytest
import torch

from ganstudio import modelfolder
from ganstudio.conditioning import CondSpec, coverage, load_text_encoder
from ganstudio.config import Config, apply_overrides
from ganstudio.models import build_models
from tests.conftest import CAPTIONS, TINY, shapes_dataset

pytest.importorskip("fastapi")


def tiny_model(folder):
    config = apply_overrides(Config(), [*TINY, "model.sketch=true", "model.text_encoder=builtin"])
    spec = CondSpec(
        num_classes=2,
        attribute_names=["brightness"],
        attribute_mean=[0.3],
        attribute_std=[0.1],
        text_encoder="builtin",
        text_dim=256,
        sketch_resolution=16,
    )
    with torch.random.fork_rng():  # the same untrained weights whatever ran before
        torch.manual_seed(0)
        G, _ = build_models(config.model, 16, 1, spec)
    info = shapes_dataset().describe() | {"text_encoder": "builtin"}
    info["attributes"] = {"brightness": {"min": 0.1, "max": 0.6, "mean": 0.3, "std": 0.1}}
    texts = [c for pair in CAPTIONS for c in pair]
    bank = coverage.build([[t] for t in texts], texts, load_text_encoder("builtin").encode(texts), 0.3)
    modelfolder.save(folder, config, spec, info, modelfolder.Card(), G, extras=(bank,))
    return folder


def two_class_folder(root):
    """A data root holding `set/`: two classes ("light", "dark") of eight plain 32-px images,
    what a studio training job is started on in the tests."""
    from PIL import Image

    for label, value in (("light", 220), ("dark", 40)):
        (root / "set" / label).mkdir(parents=True)
        for i in range(8):
            Image.new("L", (32, 32), value - i).save(root / "set" / label / f"{i}.png")
    return root


@pytest.fixture(scope="session")
def served_model(tmp_path_factory):
    return tiny_model(tmp_path_factory.mktemp("served"))


@pytest.fixture
def make_client(served_model, tmp_path):
    from fastapi.testclient import TestClient

    from ganstudio.serve.app import Settings, create_app

    clients = []

    def make(**options):
        settings = Settings(**{"models": [str(served_model)], "runs_dir": tmp_path / "runs"} | options)
        client = TestClient(
            create_app(settings), raise_server_exceptions=False, base_url="http://127.0.0.1:7860"
        )
        client.__enter__()
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.__exit__(None, None, None)
