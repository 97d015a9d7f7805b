"""The client as users run it: `daphne webclient.asgi:application` in a subprocess, migrated
first, on a free local port. The `webclient_server` fixture (tests/conftest.py) and the tests
that start, stop and restart their own servers use these."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class WebclientServer:
    url: str
    log_path: Path
    process: subprocess.Popen
    homeserver: str

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def start_webclient(
    data_dir: Path,
    homeserver: str,
    port: int | None = None,
    daphne_args: tuple[str, ...] = (),
    **extra_env: str,
) -> WebclientServer:
    """Migrate and start `daphne webclient.asgi:application` exactly as users run it.

    `port` restarts a stopped server where its pages expect it (a free one by default);
    `daphne_args` are daphne's own options (an operator's `--ping-interval`, say)."""
    env = {
        **os.environ,
        "WEBCLIENT_DATA_DIR": str(data_dir),
        "MATRIX_HOMESERVER": homeserver,
        "DJANGO_SETTINGS_MODULE": "webclient.settings",
        "MATRIX_SYNC_TIMEOUT_MS": "10000",
        "MATRIX_SESSION_IDLE_SECONDS": "30",
        **extra_env,
    }
    migrate = subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput"],
        cwd=BASE_DIR,
        env=env,
        check=False,
        capture_output=True,
        text=True,
    )
    if migrate.returncode != 0:
        raise RuntimeError(f"migrate failed:\n{migrate.stdout}\n{migrate.stderr}")
    port = port or free_port()
    log_path = data_dir / "daphne.log"
    log = log_path.open("ab")
    process = subprocess.Popen(
        [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), *daphne_args]
        + ["webclient.asgi:application"],
        cwd=BASE_DIR,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"daphne exited:\n{log_path.read_text()}")
        try:
            with urllib.request.urlopen(f"{url}/login/", timeout=2) as response:
                if response.status == 200:
                    break
        except OSError:
            time.sleep(0.2)
    else:
        process.kill()
        raise RuntimeError(f"daphne did not answer:\n{log_path.read_text()}")
    return WebclientServer(url, log_path, process, homeserver)


def stop_webclient(server: WebclientServer) -> None:
    server.process.terminate()
    try:
        server.process.wait(10)
    except subprocess.TimeoutExpired:
        server.process.kill()
