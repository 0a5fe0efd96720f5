"""`ganstudio serve`: the REST API and the web studio (FastAPI + uvicorn, the `serve` extra).

With `workers` > 1 uvicorn starts that many server processes on one port (the kernel spreads
connections among them); each loads the models itself, draws with its share of the cores, and
they share the history database. Training jobs need one process (each worker would keep its own
job list), so a multi-worker server serves generation, editing, history and verify only.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import json
import os
import socket
from pathlib import Path

TOKEN_ENV = "GANSTUDIO_TOKEN"
SETTINGS_ENV = "GANSTUDIO_SERVE_SETTINGS"  # how the parent hands its settings to worker processes


def is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        try:
            return all(
                ipaddress.ip_address(info[4][0]).is_loopback for info in socket.getaddrinfo(host, None)
            )
        except (OSError, ValueError):
            return False


def serve(
    host: str = "127.0.0.1",
    port: int = 7860,
    token: str | None = None,
    models: list[str] | None = None,
    data_root: str | Path | None = None,
    runs_dir: str | Path = "runs/studio",
    cors_origins: list[str] | None = None,
    requests_per_minute: int | None = None,
    allowed_hosts: list[str] | None = None,
    trusted_proxies: list[str] | None = None,
    workers: int = 1,
) -> None:
    """Run the studio until interrupted. Outside the loopback address a token is required;
    `workers` > 1 runs that many server processes (generation only: no training jobs)."""
    try:
        import uvicorn

        from ganstudio.serve.app import Settings, create_app
    except ImportError as error:
        raise ValueError(
            f"ganstudio serve needs the serve extra ({error.name} is missing): pip install 'ganstudio[serve]'"
        ) from None
    token = token or os.environ.get(TOKEN_ENV) or None
    if not is_loopback(host) and not token:
        raise ValueError(
            f"--host {host} is reachable from other machines: set an access token with --token or "
            f"{TOKEN_ENV} (clients send Authorization: Bearer TOKEN), or keep the default 127.0.0.1"
        )
    settings = Settings(
        token=token,
        runs_dir=Path(runs_dir),
        cors_origins=list(cors_origins or []),
        allowed_hosts=[*(allowed_hosts or []), host],
    )
    if not 1 <= workers <= 64:
        raise ValueError(f"--workers {workers}: use 1 to 64 server processes")
    settings.workers = workers
    if requests_per_minute is not None:
        settings.requests_per_minute = requests_per_minute
    if models:
        settings.models = list(models)
    if data_root is not None:
        root = Path(data_root)
        if not root.is_dir():
            raise ValueError(f"--data-root {root} is not a folder")
        settings.data_root = root
    shown = "localhost" if is_loopback(host) else host
    print(f"ganstudio studio: http://{shown}:{port}/  (API: http://{shown}:{port}/docs)", flush=True)
    if workers == 1:
        uvicorn.run(create_app(settings), host=host, port=port, **uvicorn_options(trusted_proxies))
        return
    print(f"{workers} server processes; training jobs need one (start without --workers)", flush=True)
    os.environ[SETTINGS_ENV] = json.dumps(dataclasses.asdict(settings), default=str)
    uvicorn.run(
        "ganstudio.serve:worker_app",
        factory=True,
        workers=workers,
        host=host,
        port=port,
        **uvicorn_options(trusted_proxies),
    )


def worker_app():  # noqa: ANN201 - a FastAPI app (imported only where the serve extra is)
    """One worker process's app, from the settings the parent left in the environment; torch
    gets this worker's share of the cores."""
    import torch

    from ganstudio.serve.app import create_app
    from ganstudio.serve.schemas import Settings

    values = json.loads(os.environ[SETTINGS_ENV])
    for name in ("runs_dir", "data_root"):
        if values.get(name) is not None:
            values[name] = Path(values[name])
    settings = Settings(**values)
    torch.set_num_threads(max(1, (os.cpu_count() or 1) // settings.workers))
    return create_app(settings)


def uvicorn_options(trusted_proxies: list[str] | None) -> dict:
    """uvicorn's settings: X-Forwarded-For is believed only from the proxies named (uvicorn's
    default trusts it from 127.0.0.1, so a local client could pose as many clients and escape the
    per-client limit); a long keep-alive, because a client reusing a connection the server is
    just closing sees a reset."""
    return {
        "log_level": "warning",
        "timeout_keep_alive": 75,
        "proxy_headers": bool(trusted_proxies),
        "forwarded_allow_ips": ",".join(trusted_proxies or []) or None,
    }
