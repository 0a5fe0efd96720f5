"""The studio's history: every image the server generates or redraws, kept on disk with its
parameters and record in a local SQLite database, so a day's work survives restarts and reloads.

One database per runs folder (`<runs>/history/`), and, when the server has an access token, one
per token (the file is named by a hash of it): two people with two tokens never see each other's
work. Files are written atomically beside the database; deleting an entry deletes its file.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import sqlite3
import tempfile
import threading
import time
import zipfile
from pathlib import Path
from typing import Any

from fastapi import HTTPException, Query
from fastapi.responses import FileResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from ganstudio.serve.schemas import ERRORS

EXTENSIONS = {"image/png": "png", "image/jpeg": "jpg", "image/webp": "webp", "image/svg+xml": "svg"}
SCHEMA = """
CREATE TABLE IF NOT EXISTS entries (
    id TEXT PRIMARY KEY,
    created REAL NOT NULL,
    operation TEXT NOT NULL,
    model TEXT NOT NULL,
    prompt TEXT,
    negative TEXT,
    label TEXT,
    seed INTEGER,
    params TEXT NOT NULL,
    record TEXT NOT NULL,
    file TEXT NOT NULL,
    mime TEXT NOT NULL,
    favourite INTEGER NOT NULL DEFAULT 0,
    sketch TEXT
);
CREATE INDEX IF NOT EXISTS entries_created ON entries (created);
"""
COLUMNS = "id, created, operation, model, prompt, negative, label, seed, params, record, file, mime, sketch"
MAX_LIST = 200
MAX_ZIP = 500


class History:
    """Entries (one per image) with search, favourites, delete and a zip of the selected ones."""

    def __init__(self, root: Path, token: str | None = None) -> None:
        name = "history.sqlite"
        if token:  # one database per token: never shared across people
            name = f"history-{hashlib.sha256(token.encode()).hexdigest()[:16]}.sqlite"
        self.folder = Path(root) / "history"
        self.files = self.folder / (Path(name).stem + "-files")
        self.files.mkdir(parents=True, exist_ok=True)
        self.lock = threading.Lock()
        # several server workers may share the file: WAL lets readers and one writer go together
        self.db = sqlite3.connect(self.folder / name, check_same_thread=False, timeout=30)
        self.db.row_factory = sqlite3.Row
        with self.lock, self.db:
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=NORMAL")
            self.db.executescript(SCHEMA)
            columns = {row["name"] for row in self.db.execute("PRAGMA table_info(entries)")}
            if "sketch" not in columns:  # a database from before sketches were kept
                self.db.execute("ALTER TABLE entries ADD COLUMN sketch TEXT")
        # written behind: a request only queues its images; a thread writes them in one transaction
        # (one commit per image cost more than drawing the image under load); every read flushes
        self.pending: list[tuple] = []
        self.flushing = threading.Lock()
        self.wake = threading.Event()
        self.closed = False
        self.writer = threading.Thread(target=self._write_behind, name="history", daemon=True)
        self.writer.start()

    def add(self, entry_id: str, operation: str, params: dict[str, Any], record: dict[str, Any],
            data: bytes, mime: str, sketch: bytes | None = None) -> None:  # fmt: skip
        """Keep one image: its file (written atomically) and its row, within a few milliseconds;
        `sketch`: the user's drawing as a PNG (kept beside it, shown and recalled in the studio)."""
        label = record.get("label")
        row = (entry_id, time.time(), operation, str(record.get("model", "")), params.get("prompt"),
               params.get("negative"), None if label is None else str(label), record.get("seed"),
               json.dumps(params), json.dumps(record, default=str), f"{entry_id}.{EXTENSIONS[mime]}",
               mime, None if sketch is None else f"{entry_id}-sketch.png")  # fmt: skip
        with self.lock:
            self.pending.append((row, data, sketch))
        self.wake.set()

    def flush(self) -> None:
        """Write every queued image: the files first (atomically), then their rows together."""
        with self.flushing:
            with self.lock:
                batch, self.pending = self.pending, []
            if not batch:
                return
            for row, data, sketch in batch:
                self._write(row[10], data)
                if sketch is not None:
                    self._write(row[12], sketch)
            with self.lock, self.db:
                self.db.executemany(
                    f"INSERT OR REPLACE INTO entries ({COLUMNS}) VALUES ({', '.join('?' * 13)})",
                    [row for row, _, _ in batch],
                )

    def _write(self, name: str, data: bytes) -> None:
        fd, tmp = tempfile.mkstemp(dir=self.files, suffix=".part")
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        os.replace(tmp, self.files / name)

    def _write_behind(self) -> None:
        while not self.closed:
            self.wake.wait()
            self.wake.clear()
            time.sleep(0.02)  # let a group's requests gather into one transaction
            try:
                self.flush()
            except (OSError, sqlite3.Error) as error:  # a full disk: said in the log, the server goes on
                logging.getLogger("ganstudio.serve").error("history: could not write: %s", error)

    def list(self, query: str = "", favourites: bool = False, limit: int = 50, offset: int = 0) -> list[dict]:
        """Newest first; `query` matches the prompt, negative prompt, label, model or operation."""
        if not 1 <= limit <= MAX_LIST or offset < 0:
            raise ValueError(f"limit must be 1 to {MAX_LIST} and offset 0 or more")
        where, args = ["1"], []
        if query:
            like = "%" + query.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            fields = ("prompt", "negative", "label", "model", "operation")
            where.append("(" + " OR ".join(f"{f} LIKE ? ESCAPE '\\'" for f in fields) + ")")
            args += [like] * len(fields)
        if favourites:
            where.append("favourite = 1")
        sql = f"SELECT * FROM entries WHERE {' AND '.join(where)} ORDER BY created DESC LIMIT ? OFFSET ?"
        self.flush()
        with self.lock:
            rows = self.db.execute(sql, [*args, limit, offset]).fetchall()
        return [self._out(row) for row in rows]

    def get(self, entry_id: str) -> dict[str, Any] | None:
        self.flush()
        with self.lock:
            row = self.db.execute("SELECT * FROM entries WHERE id = ?", (entry_id,)).fetchone()
        return None if row is None else self._out(row)

    def file(self, entry_id: str) -> tuple[Path, str] | None:
        entry = self.get(entry_id)
        return None if entry is None else (self.files / entry["file"], entry["mime"])

    def sketch(self, entry_id: str) -> Path | None:
        """The drawing an entry was generated from (a PNG), if it had one."""
        entry = self.get(entry_id)
        return None if entry is None or not entry["sketch"] else self.files / entry["sketch"]

    def favourite(self, entry_id: str, on: bool) -> bool:
        self.flush()
        with self.lock, self.db:
            changed = self.db.execute("UPDATE entries SET favourite = ? WHERE id = ?", (int(on), entry_id))
        return changed.rowcount == 1

    def delete(self, entry_id: str) -> bool:
        """Remove the entry and its file."""
        entry = self.get(entry_id)
        if entry is None:
            return False
        with self.lock, self.db:
            self.db.execute("DELETE FROM entries WHERE id = ?", (entry_id,))
        (self.files / entry["file"]).unlink(missing_ok=True)
        if entry["sketch"]:
            (self.files / entry["sketch"]).unlink(missing_ok=True)
        return True

    def zip(self, ids: list[str]) -> bytes:
        """The selected entries' marked files and a records.json (parameters and metadata)."""
        if not 1 <= len(ids) <= MAX_ZIP:
            raise ValueError(f"select 1 to {MAX_ZIP} images to download")
        entries = [e for e in (self.get(i) for i in dict.fromkeys(ids)) if e is not None]
        if not entries:
            raise ValueError("none of the selected images is in the history (deleted?)")
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:  # images are compressed already
            for entry in entries:
                path = self.files / entry["file"]
                if path.is_file():
                    archive.write(path, entry["file"])
                if entry["sketch"] and (self.files / entry["sketch"]).is_file():  # the drawing it came from
                    archive.write(self.files / entry["sketch"], entry["sketch"])
            archive.writestr("records.json", json.dumps(entries, indent=2, default=str))
        return buffer.getvalue()

    def close(self) -> None:
        self.closed = True
        self.wake.set()
        self.flush()
        with self.lock:
            self.db.close()

    @staticmethod
    def _out(row: sqlite3.Row) -> dict[str, Any]:
        entry = dict(row)
        entry["params"], entry["record"] = json.loads(entry["params"]), json.loads(entry["record"])
        entry["favourite"] = bool(entry["favourite"])
        entry["url"] = f"/v1/history/{entry['id']}/file"
        entry["sketch_url"] = f"/v1/history/{entry['id']}/sketch" if entry["sketch"] else None
        return entry


class Favourite(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid")
    on: bool = True


class Selection(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid")
    ids: list[str] = Field(min_length=1, max_length=MAX_ZIP)


def add_history_routes(app: Any, history: History, api: list) -> None:
    """/v1/history: list and search, one file, favourite, delete, and a zip of selected entries."""

    def found(ok: bool, entry_id: str) -> None:
        if not ok:
            raise HTTPException(404, f"no image {entry_id!r} in the history")

    @app.get("/v1/history", tags=["history"], dependencies=api, responses=ERRORS)
    async def list_history(
        q: str = Query("", max_length=200, description="words in the prompt, label, model or operation"),
        favourites: bool = False,
        limit: int = Query(50, ge=1, le=MAX_LIST),
        offset: int = Query(0, ge=0, le=2**62, description="entries to skip (SQLite counts in 64 bits)"),
    ) -> list[dict[str, Any]]:
        """Every generated and redrawn image, newest first, with its parameters and record."""
        return history.list(q, favourites, limit, offset)

    @app.post("/v1/history/zip", tags=["history"], dependencies=api, responses=ERRORS)
    async def download(body: Selection) -> Response:
        """The selected images (marked files) and records.json, as one zip."""
        data = history.zip(body.ids)
        headers = {"Content-Disposition": 'attachment; filename="ganstudio-selection.zip"'}
        return Response(data, media_type="application/zip", headers=headers)

    @app.get("/v1/history/{entry_id}/file", tags=["history"], dependencies=api, responses=ERRORS)
    async def history_file(entry_id: str) -> FileResponse:
        where = history.file(entry_id)
        found(where is not None and where[0].is_file(), entry_id)
        return FileResponse(where[0], media_type=where[1])

    @app.get("/v1/history/{entry_id}/sketch", tags=["history"], dependencies=api, responses=ERRORS)
    async def history_sketch(entry_id: str) -> FileResponse:
        """The drawing the image was generated from (PNG), when it had one."""
        where = history.sketch(entry_id)
        found(where is not None and where.is_file(), entry_id)
        return FileResponse(where, media_type="image/png")

    @app.post("/v1/history/{entry_id}/favourite", tags=["history"], dependencies=api, responses=ERRORS)
    async def favourite(entry_id: str, body: Favourite) -> dict[str, Any]:
        found(history.favourite(entry_id, body.on), entry_id)
        return {"id": entry_id, "favourite": body.on}

    @app.delete("/v1/history/{entry_id}", tags=["history"], dependencies=api, responses=ERRORS)
    async def delete(entry_id: str) -> dict[str, Any]:
        """Remove the entry and its file."""
        found(history.delete(entry_id), entry_id)
        return {"id": entry_id, "deleted": True}
