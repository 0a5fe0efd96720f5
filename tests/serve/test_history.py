"""The studio's history: every generated and redrawn image recorded with its parameters, searchable,
favourites, delete (the file too), a zip of the selected ones; it survives a restart and is never
shared across access tokens."""

import io
import json
import zipfile


def test_history_records_searches_favourites_zips_and_deletes(make_client, tmp_path):
    client = make_client()
    client.post("/v1/generate", json={"n": 2, "seed": 3, "prompt": "a big square", "guidance": 1.5})
    client.post("/v1/generate", json={"n": 1, "seed": 9, "label": 0})
    entries = client.get("/v1/history").json()
    assert len(entries) == 3 and entries[0]["seed"] == 9  # newest first
    squares = client.get("/v1/history", params={"q": "big"}).json()  # the prompt, not the class "square"
    assert sorted(e["seed"] for e in squares) == [3, 4]
    assert squares[0]["params"]["guidance"] == 1.5 and squares[0]["operation"] == "generate"
    first = squares[0]["id"]
    assert client.get(f"/v1/history/{first}/file").content[:4] == b"\x89PNG"
    assert client.post(f"/v1/history/{first}/favourite", json={"on": True}).status_code == 200
    assert [e["id"] for e in client.get("/v1/history", params={"favourites": True}).json()] == [first]
    zipped = client.post("/v1/history/zip", json={"ids": [e["id"] for e in squares]})
    with zipfile.ZipFile(io.BytesIO(zipped.content)) as archive:
        names = archive.namelist()
        records = json.loads(archive.read("records.json"))
    assert len(names) == 3 and {r["prompt"] for r in records} == {"a big square"}
    path = tmp_path / "runs" / "history" / "history-files" / squares[1]["file"]
    assert path.is_file()
    assert client.delete(f"/v1/history/{squares[1]['id']}").status_code == 200
    assert not path.is_file() and len(client.get("/v1/history").json()) == 2
    assert client.delete(f"/v1/history/{squares[1]['id']}").status_code == 404
    assert client.get("/v1/history", params={"q": "%"}).json() == []  # LIKE wildcards are literal
    assert client.post("/v1/history/zip", json={"ids": []}).status_code == 422

    again = make_client()  # a restart on the same runs folder: the history is still there
    assert len(again.get("/v1/history").json()) == 2


def test_each_token_has_its_own_history(make_client):
    alice = make_client(token="alice-token-0123456789")
    bob = make_client(token="bob-token-0123456789")
    auth = lambda t: {"Authorization": f"Bearer {t}"}  # noqa: E731
    alice.post("/v1/generate", json={"n": 1, "seed": 1}, headers=auth("alice-token-0123456789"))
    assert len(alice.get("/v1/history", headers=auth("alice-token-0123456789")).json()) == 1
    assert bob.get("/v1/history", headers=auth("bob-token-0123456789")).json() == []
    assert bob.get("/v1/history").status_code == 401


def test_an_offset_past_sqlites_integers_is_refused_not_a_crash(make_client):
    client = make_client()
    assert client.get("/v1/history", params={"offset": 2**63}).status_code == 422
    assert client.get("/v1/history", params={"offset": 2**62}).json() == []


def test_a_sketch_is_kept_shown_zipped_and_deleted_with_its_image(make_client, tmp_path):
    """A generation from a drawing keeps the drawing (a PNG at most 256 px) beside the image: the
    entry links it, the zip carries it, deleting the entry deletes it; an older database without
    the column is upgraded in place."""
    import base64
    import sqlite3

    import numpy as np
    from PIL import Image

    drawing = np.full((300, 300), 255, np.uint8)
    drawing[60:240, 60:70] = 0  # one thick vertical stroke
    buffer = io.BytesIO()
    Image.fromarray(drawing).save(buffer, format="PNG")
    client = make_client()
    sketch = "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()
    assert client.post("/v1/generate", json={"n": 1, "seed": 2, "sketch": sketch}).status_code == 200
    client.post("/v1/generate", json={"n": 1, "seed": 5})
    drawn, plain = sorted(client.get("/v1/history").json(), key=lambda e: e["seed"])
    assert plain["sketch_url"] is None and drawn["params"]["sketch"] is True
    kept = Image.open(io.BytesIO(client.get(drawn["sketch_url"]).content))
    assert kept.size == (256, 256) and kept.mode == "L"
    assert np.asarray(kept)[128, 55:72].min() < 64  # the stroke, scaled
    assert client.get(f"/v1/history/{plain['id']}/sketch").status_code == 404
    with zipfile.ZipFile(
        io.BytesIO(client.post("/v1/history/zip", json={"ids": [drawn["id"]]}).content)
    ) as archive:
        assert f"{drawn['id']}-sketch.png" in archive.namelist()
    folder = tmp_path / "runs" / "history" / "history-files"
    assert (folder / f"{drawn['id']}-sketch.png").is_file()
    assert client.delete(f"/v1/history/{drawn['id']}").status_code == 200
    assert not (folder / f"{drawn['id']}-sketch.png").exists()

    old = tmp_path / "old" / "history"
    old.mkdir(parents=True)
    with sqlite3.connect(old / "history.sqlite") as db:  # the table as it was before sketches
        db.execute(
            "CREATE TABLE entries (id TEXT PRIMARY KEY, created REAL NOT NULL, operation TEXT NOT NULL, "
            "model TEXT NOT NULL, prompt TEXT, negative TEXT, label TEXT, seed INTEGER, params TEXT NOT NULL, "
            "record TEXT NOT NULL, file TEXT NOT NULL, mime TEXT NOT NULL, favourite INTEGER NOT NULL DEFAULT 0)"
        )
        db.execute(
            "INSERT INTO entries VALUES ('a', 1, 'generate', 'm', NULL, NULL, NULL, 1, '{}', '{}', 'a.png', 'image/png', 0)"
        )
    upgraded = make_client(runs_dir=tmp_path / "old")
    entries = upgraded.get("/v1/history").json()
    assert [e["id"] for e in entries] == ["a"] and entries[0]["sketch_url"] is None
