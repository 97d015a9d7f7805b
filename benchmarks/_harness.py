"""A small launcher for benchmarks: the client under daphne, as users run it, on a free port.

The same thing tests/conftest.py does for the test suite, kept separate so benchmarks do not
import test code.
"""

from __future__ import annotations

import os
import shutil
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]

# Loopback must never go through a proxy from the environment.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class WebclientProcess:
    url: str
    port: int
    data_dir: Path
    process: subprocess.Popen

    @property
    def log_path(self) -> Path:
        return self.data_dir / "daphne.log"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        if self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)


def start_webclient(
    data_dir: Path,
    homeserver: str,
    port: int | None = None,
    extra_env: dict[str, str] | None = None,
    timeout: float = 30.0,
) -> WebclientProcess:
    """Migrate, start `daphne webclient.asgi:application` and wait until `/login/` answers."""
    data_dir = Path(data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    env = {
        **os.environ,
        "WEBCLIENT_DATA_DIR": str(data_dir),
        "MATRIX_HOMESERVER": homeserver,
        "DJANGO_SETTINGS_MODULE": "webclient.settings",
        **(extra_env or {}),
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
    with (data_dir / "daphne.log").open("ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port)]
            + ["webclient.asgi:application"],
            cwd=BASE_DIR,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    server = WebclientProcess(f"http://127.0.0.1:{port}", port, data_dir, process)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"daphne exited:\n{server.log()}")
        try:
            with _OPENER.open(f"{server.url}/login/", timeout=2) as response:
                if response.status == 200:
                    return server
        except OSError:
            time.sleep(0.2)
    server.stop()
    raise RuntimeError(f"daphne did not answer within {timeout}s:\n{server.log()}")


async def sign_in(page, base_url: str, homeserver_url: str, user) -> None:  # noqa: ANN001
    """Sign a Chromium page (Playwright's async API) in through the login form."""
    await page.goto(f"{base_url}/login/")
    await page.fill("form#login-form input[name=homeserver]", homeserver_url)
    await page.fill("form#login-form input[name=username]", user.localpart)
    await page.fill("form#login-form input[name=password]", user.password)
    await page.click("form#login-form button[type=submit]")
    await page.wait_for_url(f"{base_url}/rooms/")


def percentile(values: list[float], pct: float) -> float:
    """Linear interpolation between closest ranks (numpy's default)."""
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    rank = (len(ordered) - 1) * pct / 100
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def stats_line(name: str, values: list[float], width: int) -> str:
    """One row of figures: p50, p95, mean, min and max, the name padded to `width`."""
    return (
        f"{name:<{width}} p50 {percentile(values, 50):7.1f}  p95 {percentile(values, 95):7.1f}"
        f"  mean {statistics.fmean(values):7.1f}  min {min(values):7.1f}  max {max(values):7.1f}"
    )


def clean_up(webclient: WebclientProcess | None, synapse, work: Path, keep: bool) -> None:  # noqa: ANN001
    """The end of a run: the client and the homeserver stopped, the data removed unless kept."""
    if webclient is not None:
        webclient.stop()
    synapse.stop()
    if not keep:
        shutil.rmtree(work, ignore_errors=True)
    else:
        print(f"data kept in {work}")


def api(hs, user, method: str, path: str, body=None) -> dict:  # noqa: ANN001
    """A client-server API call as `user` (another client); `path` from /_matrix on."""
    from webclient.demo.homeserver import matrix_request

    return matrix_request(hs.url, method, path, body, token=user.access_token)


def room_of_two(hs, first: str, second: str, name: str):  # noqa: ANN001, ANN201
    """Two new users (display names `first` and `second`, capitalised) and a private room
    the first made and the second joined: (first user, second user, room ID)."""
    import uuid
    from urllib.parse import quote

    stamp = uuid.uuid4().hex[:8]
    one = hs.register(f"{first}-{stamp}", f"pw-{first}", displayname=first.capitalize())
    two = hs.register(f"{second}-{stamp}", f"pw-{second}", displayname=second.capitalize())
    body = {"preset": "private_chat", "name": name, "invite": [two.user_id]}
    room_id = api(hs, one, "POST", "/_matrix/client/v3/createRoom", body)["room_id"]
    api(hs, two, "POST", f"/_matrix/client/v3/rooms/{quote(room_id, safe='')}/join", {})
    return one, two, room_id
