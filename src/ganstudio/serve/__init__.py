"""`ganstudio serve`: the REST API and the web studio (FastAPI + uvicorn, the `serve` extra)."""

from __future__ import annotations

import ipaddress
import os
import socket
from pathlib import Path

TOKEN_ENV = "GANSTUDIO_TOKEN"


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
) -> None:
    """Run the studio until interrupted. Outside the loopback address a token is required."""
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
    if requests_per_minute is not None:
        settings.requests_per_minute = requests_per_minute
    if models:
        settings.models = list(models)
    if data_root is not None:
        root = Path(data_root)
        if not root.is_dir():
            raise ValueError(f"--data-root {root} is not a folder")
        settings.data_root = root
    app = create_app(settings)
    shown = "localhost" if is_loopback(host) else host
    print(f"ganstudio studio: http://{shown}:{port}/  (API: http://{shown}:{port}/docs)", flush=True)
    # a long keep-alive: a client reusing a connection the server is just closing sees a reset
    uvicorn.run(app, host=host, port=port, **uvicorn_options(trusted_proxies))


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
