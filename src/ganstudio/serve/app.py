"""The REST API (`/v1`) and the web studio (`/`) over one GenerationPipeline per model.

Safe by default: loopback only unless a token is set (bearer auth on every /v1 route but health),
limits on uploads, image sizes, n, prompt length, requests per client and jobs; errors are JSON
with a message and never a stack trace; CORS is off unless origins are given.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
import secrets
import shutil
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any

from fastapi import Depends, FastAPI, File, Form, HTTPException, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response, StreamingResponse
from fastapi.staticfiles import StaticFiles
from fastapi_offline import FastAPIOffline
from PIL import Image
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from ganstudio import __version__
from ganstudio.config import available_presets
from ganstudio.data.images import parse_color
from ganstudio.pipeline import MAX_SEED, GenerationPipeline
from ganstudio.provenance import verify as verify_file
from ganstudio.serve.batcher import Batcher
from ganstudio.serve.editing import add_editing_routes, image_outs
from ganstudio.serve.history import History, add_history_routes
from ganstudio.serve.inputs import Limits, decode_base64_image, decode_upload, describe_model, sketch_png
from ganstudio.serve.jobs import Jobs, extract_zip, folder_bytes
from ganstudio.serve.schemas import ERRORS, GenerateRequest, GenerateResponse, JobRequest, Settings
from ganstudio.serve.security import BrowserGuard

STATIC = Path(__file__).parent / "static"
log = logging.getLogger("ganstudio.serve")


class Studio:
    """The server's state: loaded models with their batchers, generated files, jobs, limits."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.pipes: dict[str, GenerationPipeline] = {}
        self.batchers: dict[str, Batcher] = {}
        self.versions: dict[str, float | None] = {}
        self.loading = threading.Lock()  # one load at a time: two requests never load one model twice
        self.images: OrderedDict[str, tuple[bytes, str]] = OrderedDict()
        self.limits = Limits(settings.requests_per_minute)
        self.failed_logins = Limits(settings.failed_logins_per_minute, "wrong tokens")
        self.jobs = Jobs(settings.runs_dir, settings.data_root, settings.max_jobs, settings.workers)
        self.history = History(settings.runs_dir, settings.token)
        self.worker = secrets.token_hex(4)

    def model_names(self) -> list[str]:
        """The configured models, then every studio training job that has a checkpoint (job:ID)."""
        jobs = [f"job:{job.id}" for job in self.jobs.jobs.values() if (job.run_dir / "checkpoint").is_dir()]
        return list(self.settings.models) + jobs

    def pipe(self, name: str | None) -> tuple[str, GenerationPipeline, Batcher]:
        names = self.model_names()
        name = name or (names[0] if names else None)
        if name not in names:
            raise HTTPException(
                404, f"model {name!r} is not served here; models: {', '.join(names) or 'none'}"
            )
        source: str | Path = name
        version = None
        if name.startswith("job:"):  # a studio run: reloaded when it has written a newer checkpoint
            source = self.jobs.get(name[4:]).run_dir
            version = max(p.stat().st_mtime for p in source.glob("*/generator_ema.safetensors"))
        with self.loading:
            if name not in self.pipes or self.versions.get(name) != version:  # loaded once, kept loaded
                pipe = GenerationPipeline.from_pretrained(source)
                old = self.batchers.pop(name, None)
                if old is not None:  # a newer checkpoint: the old pipeline and its threads go
                    old.shutdown()
                self.pipes[name] = pipe
                self.batchers[name] = Batcher(pipe, max_wait_ms=self.settings.batch_wait_ms)
                self.versions[name] = version
            return name, self.pipes[name], self.batchers[name]

    def keep(self, data: bytes, mime: str) -> str:
        image_id = secrets.token_urlsafe(12)
        self.images[image_id] = (data, mime)
        while len(self.images) > self.settings.max_images_kept:
            self.images.popitem(last=False)
        return image_id


def as_json(response: GenerateResponse) -> Response:
    """The response serialised once by pydantic: FastAPI's own path dumps it to a dict, validates
    that again and encodes it a third time, which cost as much per image as the PNG did."""
    return Response(response.model_dump_json(), media_type="application/json")


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    studio = Studio(settings)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        yield
        for batcher in studio.batchers.values():
            await batcher.close()
        studio.jobs.close()
        studio.history.close()

    app = FastAPIOffline(  # FastAPI with /docs and /redoc served from the package, no CDN
        title="ganstudio",
        version=__version__,
        description="Generate images from text, sketches and attributes; train on your folders; verify marks.",
        lifespan=lifespan,
    )
    app.state.studio = studio

    if settings.cors_origins:
        from fastapi.middleware.cors import CORSMiddleware

        app.add_middleware(
            CORSMiddleware, allow_origins=settings.cors_origins, allow_methods=["*"], allow_headers=["*"]
        )
    # outermost: Host and Origin are checked before anything else runs
    app.add_middleware(
        BrowserGuard, allowed_hosts=settings.allowed_hosts, allowed_origins=settings.cors_origins
    )

    @app.exception_handler(StarletteHTTPException)  # FastAPI's own and the router's 404/405
    async def http_error(request: Request, error: StarletteHTTPException) -> JSONResponse:
        return JSONResponse(
            {"error": str(error.detail)}, status_code=error.status_code, headers=error.headers
        )

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, error: RequestValidationError) -> JSONResponse:
        problems = [f"{'.'.join(str(p) for p in e['loc'][1:]) or 'body'}: {e['msg']}" for e in error.errors()]
        return JSONResponse({"error": "; ".join(problems) or "invalid request"}, status_code=422)

    @app.exception_handler(ValueError)
    async def bad_value(request: Request, error: ValueError) -> JSONResponse:
        return JSONResponse({"error": str(error)}, status_code=400)

    @app.exception_handler(Exception)
    async def crashed(request: Request, error: Exception) -> JSONResponse:
        log.exception("request %s failed", request.url.path)  # the trace stays in the server's log
        return JSONResponse({"error": "internal error; the server log has the details"}, status_code=500)

    async def guard(request: Request) -> None:
        """The per-client request limit, then the bearer token (when the server has one); wrong
        tokens have a limit of their own, so guessing is slow."""
        client = request.client.host if request.client else "unknown"
        studio.limits.check(client)
        if settings.token is not None:
            given = request.headers.get("authorization", "")
            if not hmac.compare_digest(given.encode(), f"Bearer {settings.token}".encode()):
                studio.failed_logins.check(client)
                raise HTTPException(
                    401,
                    "missing or wrong access token (Authorization: Bearer …)",
                    headers={"WWW-Authenticate": "Bearer"},
                )

    api = [Depends(guard)]
    add_editing_routes(app, studio, settings, api)
    add_history_routes(app, studio.history, api)

    @app.get("/v1/health", tags=["server"])
    async def health() -> dict[str, Any]:
        batchers = studio.batchers.values()
        return {
            "status": "ok",
            "version": __version__,
            "models": len(studio.model_names()),
            "worker": studio.worker,  # which server process answered (ganstudio serve --workers)
            "generated": {
                "images": sum(b.images for b in batchers),
                "batches": sum(b.batches for b in batchers),
            },
        }

    @app.get("/v1/models", tags=["generate"], dependencies=api, responses=ERRORS)
    async def models() -> list[dict[str, Any]]:
        out = []
        for name in studio.model_names():
            try:
                _, pipe, batcher = await asyncio.to_thread(studio.pipe, name)
            except (ValueError, OSError) as error:  # one broken folder never hides the others
                out.append({"name": name, "error": str(error)})
                continue
            out.append(describe_model(name, pipe))
        return out

    async def generate(body: GenerateRequest, sketch: Image.Image | None) -> GenerateResponse:
        if body.n > settings.max_n:
            raise HTTPException(400, f"n={body.n}: at most {settings.max_n} images per request")
        for what, text in (("prompt", body.prompt), ("negative prompt", body.negative)):
            if text is not None and len(text) > settings.max_prompt_chars:
                raise HTTPException(
                    400, f"the {what} has {len(text)} characters; at most {settings.max_prompt_chars}"
                )
        name, pipe, batcher = await asyncio.to_thread(studio.pipe, body.model)
        seed = body.seed if body.seed is not None else secrets.randbelow(2**31)
        if seed > MAX_SEED - (body.n - 1):
            raise HTTPException(400, f"seed {seed} + n − 1 must stay below {MAX_SEED + 1}")
        parse_color(body.background)  # a bad colour is a 400 before anything is drawn
        result, files = await batcher.generate(
            format=body.format,
            background=body.background,
            n=body.n,
            seed=seed,
            label=body.label,
            attributes=body.attributes,
            prompt=body.prompt,
            sketch=sketch,
            truncation=body.truncation,
            guidance=body.guidance,
            infer_label=body.infer_label,
            on_copy=body.on_copy,
            strict=body.strict,
            upscale=body.upscale,
            negative=body.negative,
            negative_strength=body.negative_strength,
        )
        return GenerateResponse(
            model=pipe.model_id,
            images=image_outs(
                studio,
                result,
                files,
                body.format,
                "generate",
                body.model_dump(exclude={"sketch"}) | {"seed": seed, "sketch": sketch is not None},
                sketch=None if sketch is None else await asyncio.to_thread(sketch_png, sketch),
            ),
            notes=result.notes,
        )

    @app.post(
        "/v1/generate", tags=["generate"], dependencies=api, responses=ERRORS, response_model=GenerateResponse
    )
    async def generate_json(body: GenerateRequest) -> Response:
        """Generate images; the sketch, if any, as base64. Every file is marked as AI-generated."""
        sketch = decode_base64_image(body.sketch, settings) if body.sketch else None
        return as_json(await generate(body, sketch))

    @app.post(
        "/v1/generate/upload",
        tags=["generate"],
        dependencies=api,
        responses=ERRORS,
        response_model=GenerateResponse,
    )
    async def generate_upload(
        request: str = Form("{}", description="the GenerateRequest fields as JSON (without sketch)"),
        sketch: UploadFile | None = File(None, description="the drawing, PNG or JPEG"),
    ) -> Response:
        """Generate images with the sketch as a file upload (multipart form)."""
        try:
            body = GenerateRequest.model_validate_json(request)
        except ValueError as error:
            raise HTTPException(422, f"request: {error}") from None
        drawing = None
        if sketch is not None:
            drawing = decode_upload(await sketch.read(settings.max_upload_bytes + 1), settings, "the sketch")
        return as_json(await generate(body, drawing))

    @app.get("/v1/images/{image_id}", tags=["generate"], dependencies=api, responses=ERRORS)
    async def image(image_id: str) -> Response:
        if image_id in studio.images:
            data, mime = studio.images[image_id]
        else:  # drawn by another worker process, or before a restart: the history keeps every file
            where = await asyncio.to_thread(studio.history.file, image_id)
            if where is None or not where[0].is_file():
                raise HTTPException(404, "no such image (the server keeps the most recent ones)")
            data, mime = where[0].read_bytes(), where[1]
        extension = {"image/png": "png", "image/jpeg": "jpg", "image/webp": "webp", "image/svg+xml": "svg"}[
            mime
        ]
        return Response(
            data,
            media_type=mime,
            headers={"Content-Disposition": f'attachment; filename="ganstudio-{image_id}.{extension}"'},
        )

    @app.post("/v1/verify", tags=["verify"], dependencies=api, responses=ERRORS)
    async def verify(file: UploadFile = File(..., description="an image to check")) -> dict[str, Any]:
        """What an image carries and whether it holds: the XMP marking and its record, the C2PA
        manifest (valid, trusted, tampered or absent) and the invisible watermark."""
        data = await file.read(settings.max_upload_bytes + 1)
        if len(data) > settings.max_upload_bytes:
            raise HTTPException(413, f"the file is larger than {settings.max_upload_bytes:,} bytes")
        return {"file": file.filename, **await run_in_threadpool(verify_file, data)}

    @app.get("/v1/data", tags=["train"], dependencies=api, responses=ERRORS)
    async def data() -> dict[str, Any]:
        return {
            "folders": studio.jobs.folders(),
            "data_root": bool(settings.data_root),
            "presets": available_presets(),
        }

    @app.post("/v1/jobs", tags=["train"], dependencies=api, responses=ERRORS)
    async def start_job(body: JobRequest) -> dict[str, Any]:
        """Start training on a folder under the data root (or a built-in dataset)."""
        job = studio.jobs.start(body.data, body.kimg, body.minutes, body.preset, body.sketch)
        return job.describe()

    @app.post("/v1/jobs/upload", tags=["train"], dependencies=api, responses=ERRORS)
    async def start_job_upload(
        file: UploadFile = File(..., description="a zip of images (sub-folders = classes)"),
        kimg: float | None = Form(None, gt=0, le=100_000),
        minutes: float | None = Form(None, gt=0, le=24 * 60),
        preset: str = Form("cpu-32", max_length=64),
    ) -> dict[str, Any]:
        """Start training on an uploaded zip of images."""
        studio.jobs.check_room()  # before anything is read or unpacked
        data = await file.read(settings.max_zip_bytes + 1)
        if len(data) > settings.max_zip_bytes:
            raise HTTPException(413, f"the upload is larger than {settings.max_zip_bytes:,} bytes")
        uploads = settings.runs_dir / "uploads"
        room = settings.max_upload_disk_bytes - await asyncio.to_thread(folder_bytes, uploads)
        if room <= 0:
            raise HTTPException(
                507, "the uploads folder is full (the server's limit); delete old runs/studio/uploads"
            )
        target = uploads / secrets.token_hex(6)
        try:
            folder = await asyncio.to_thread(extract_zip, data, target, min(settings.max_zip_bytes, room))
            job = studio.jobs.start(
                Path(file.filename or "upload.zip").name[:100],
                kimg,
                minutes,
                preset,
                False,
                source=str(folder),
            )
        except BaseException:
            shutil.rmtree(target, ignore_errors=True)  # a refused or failed upload leaves nothing
            raise
        return job.describe()

    def find_job(job_id: str):
        try:
            return studio.jobs.get(job_id)
        except KeyError:
            raise HTTPException(404, f"no job {job_id!r}") from None

    @app.get("/v1/jobs", tags=["train"], dependencies=api, responses=ERRORS)
    async def list_jobs() -> list[dict[str, Any]]:
        return [job.describe() for job in studio.jobs.jobs.values()]

    @app.get("/v1/jobs/{job_id}", tags=["train"], dependencies=api, responses=ERRORS)
    async def job_status(job_id: str) -> dict[str, Any]:
        return find_job(job_id).describe() | {"points": find_job(job_id).points}

    @app.post("/v1/jobs/{job_id}/cancel", tags=["train"], dependencies=api, responses=ERRORS)
    async def cancel_job(job_id: str) -> dict[str, Any]:
        find_job(job_id)
        return studio.jobs.cancel(job_id).describe()

    @app.post("/v1/jobs/{job_id}/resume", tags=["train"], dependencies=api, responses=ERRORS)
    async def resume_job(job_id: str) -> dict[str, Any]:
        find_job(job_id)
        return studio.jobs.resume(job_id).describe()

    @app.get("/v1/jobs/{job_id}/samples", tags=["train"], dependencies=api, responses=ERRORS)
    async def job_samples(job_id: str) -> FileResponse:
        path = find_job(job_id).run_dir / "samples" / "latest.png"
        if not path.is_file():
            raise HTTPException(404, "no samples yet")
        return FileResponse(path, media_type="image/png", headers={"Cache-Control": "no-store"})

    @app.get("/v1/jobs/{job_id}/events", tags=["train"], dependencies=api, responses=ERRORS)
    async def job_events(job_id: str, request: Request) -> StreamingResponse:
        """Server-sent events: the job's progress about once a second until it ends."""
        job = find_job(job_id)

        async def stream():
            sent_points = 0
            while True:
                status = job.describe()
                status["points"] = job.points[sent_points:]
                sent_points = len(job.points)
                yield f"data: {json.dumps(status)}\n\n"
                if status["state"] in ("finished", "cancelled", "failed") or await request.is_disconnected():
                    return
                await asyncio.sleep(1.0)

        return StreamingResponse(
            stream(), media_type="text/event-stream", headers={"Cache-Control": "no-store"}
        )

    @app.get("/", include_in_schema=False)
    async def studio_page() -> FileResponse:
        return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache"})

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return app
