"""`make serve-cluster`: the production topology on one machine, to try it.

nginx (deploy/nginx/webclient.conf, a private instance: https://localhost:8443, with
http://localhost:8080 redirecting to it) in front of two daphne processes (127.0.0.1:8001 and
:8002) on the local PostgreSQL (database `webclient_cluster`, created when missing) and Redis
(database 1), with the production settings of deploy/webclient.env.example: static files
collected (hashed, compressed) and served by nginx, TLS (a self-signed certificate: the
browser warns once), forwarded headers, JSON logs. Without MATRIX_HOMESERVER a demo Synapse
starts first, as for `make serve`. State is kept in ./data/cluster. Ctrl-C stops it all
(daphne gracefully: sockets closed with 1012, leases released).

Environment: CLUSTER_DATABASE_URL (postgresql://postgres@127.0.0.1:5432/webclient_cluster),
CLUSTER_REDIS_URL (redis://127.0.0.1:6379/1), CLUSTER_PROCESSES (2), CLUSTER_HTTPS_PORT
(8443), CLUSTER_HTTP_PORT (8080), CLUSTER_FIRST_PORT (8001), MATRIX_HOMESERVER.
"""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from .nginx import BASE_DIR, Nginx, Site, self_signed_certificate

DEMO_PORT = 8008

# The daphne command line of deploy/systemd/webclient@.service (a unit test keeps them equal).
DAPHNE_ARGS = [
    "--proxy-headers",
    # Requests are logged by nginx, and per process as JSON with ACCESS_LOG=on; daphne's own
    # plain lines would break JSON logs.
    "--access-log",
    "/dev/null",
    "--application-close-timeout",
    "15",
    "webclient.asgi:application",
]


def daphne_command(host: str, port: int) -> list[str]:
    return [sys.executable, "-m", "daphne", "-b", host, "-p", str(port), *DAPHNE_ARGS]


def manage(env: dict[str, str], *args: str) -> None:
    """`manage.py <args>` with this environment; raises with its output when it fails."""
    done = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"manage.py {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")


def start_daphne(env: dict[str, str], port: int, log_path: Path) -> subprocess.Popen[bytes]:
    """One daphne process as the systemd unit runs it; returns once /healthz answers."""
    log = log_path.open("ab")
    process = subprocess.Popen(
        daphne_command("127.0.0.1", port),
        cwd=BASE_DIR,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"daphne exited:\n{log_path.read_text(errors='replace')}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2):
                return process
        except OSError:
            time.sleep(0.2)
    process.kill()
    raise RuntimeError(f"daphne did not answer:\n{log_path.read_text(errors='replace')}")


def stop_daphne(process: subprocess.Popen[bytes], timeout: float = 20) -> None:
    """SIGTERM (sockets closed with 1012, devices handed over), then kill if it hangs."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def ensure_database(url: str) -> None:
    """Create the PostgreSQL database of `url` when it does not exist."""
    import psycopg

    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    admin = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin, autocommit=True, connect_timeout=5) as conn:
        found = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if not found:
            conn.execute(f'CREATE DATABASE "{name}"')


def _shared_secret(path: Path) -> str:
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_urlsafe(50))
    return path.read_text().strip()


def production_env(
    data_dir: Path,
    *,
    database_url: str,
    redis_url: str,
    homeserver: str,
    public_origins: list[str],
) -> dict[str, str]:
    """The environment of every daphne process: deploy/webclient.env.example's settings,
    for local host names (and no HSTS: it would stick to localhost in the browser)."""
    hosts = sorted({urlsplit(origin).hostname or "" for origin in public_origins} - {""})
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "webclient.settings",
        "WEBCLIENT_DATA_DIR": str(data_dir),
        "SECRET_KEY": _shared_secret(data_dir / "secret_key"),
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "MATRIX_HOMESERVER": homeserver,
        "ALLOWED_HOSTS": ",".join(hosts),
        "CSRF_TRUSTED_ORIGINS": ",".join(public_origins),
        "BEHIND_TLS_PROXY": "on",
        "STATIC_COLLECTED": "on",
        "STATIC_ROOT": str(data_dir / "static"),
        "LOG_FORMAT": os.environ.get("LOG_FORMAT", "json"),
        "SECURE_HSTS_SECONDS": "0",
    }


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main() -> int:
    signal.signal(signal.SIGTERM, _interrupt)
    data_dir = Path(os.environ.get("WEBCLIENT_DATA_DIR", BASE_DIR / "data")).resolve() / "cluster"
    data_dir.mkdir(parents=True, exist_ok=True)
    database_url = os.environ.get(
        "CLUSTER_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/webclient_cluster"
    )
    redis_url = os.environ.get("CLUSTER_REDIS_URL", "redis://127.0.0.1:6379/1")
    count = int(os.environ.get("CLUSTER_PROCESSES", "2"))
    first_port = int(os.environ.get("CLUSTER_FIRST_PORT", "8001"))
    https_port = int(os.environ.get("CLUSTER_HTTPS_PORT", "8443"))
    http_port = int(os.environ.get("CLUSTER_HTTP_PORT", "8080"))
    origins = [f"https://localhost:{https_port}", f"https://127.0.0.1:{https_port}"]

    synapse = None
    processes: list[subprocess.Popen[bytes]] = []
    nginx: Nginx | None = None
    try:
        homeserver = os.environ.get("MATRIX_HOMESERVER", "").strip()
        if not homeserver:
            from webclient.demo.homeserver import LocalSynapse
            from webclient.demo.seed import seed_demo

            hs_dir = data_dir / "demo-homeserver"
            hs_dir.mkdir(exist_ok=True)
            with socket.socket() as probe:
                taken = probe.connect_ex(("127.0.0.1", DEMO_PORT)) == 0
            synapse = LocalSynapse(hs_dir, port=None if taken else DEMO_PORT)
            print(f"Starting a demo homeserver in {hs_dir} …", flush=True)
            synapse.start()
            users = seed_demo(synapse)
            homeserver = synapse.url
            print("Demo accounts (username / password):")
            for user in users:
                print(f"  {user.localpart:<8} / {user.password}    ({user.user_id})")
        print(f"PostgreSQL: {database_url}  Redis: {redis_url}", flush=True)
        ensure_database(database_url)
        env = production_env(
            data_dir,
            database_url=database_url,
            redis_url=redis_url,
            homeserver=homeserver,
            public_origins=origins,
        )
        manage(env, "migrate", "--noinput")
        manage(env, "collectstatic", "--noinput")
        backends = []
        for index in range(count):
            port = first_port + index
            processes.append(start_daphne(env, port, data_dir / f"daphne-{port}.log"))
            backends.append(f"127.0.0.1:{port}")
            print(f"daphne {index + 1}: http://127.0.0.1:{port} (log {data_dir}/daphne-{port}.log)")
        cert, key = self_signed_certificate(data_dir / "tls", ["localhost", "127.0.0.1"])
        site = Site(
            server_name="localhost 127.0.0.1",
            backends=backends,
            static_root=data_dir / "static",
            certificate=cert,
            certificate_key=key,
            https_listen=f"127.0.0.1:{https_port}",
            http_listen=f"127.0.0.1:{http_port}",
        )
        nginx = Nginx(data_dir / "nginx", site).start()
        print(
            f"\nwebclient: https://localhost:{https_port}/  (self-signed certificate; "
            f"http://localhost:{http_port}/ redirects there)\n"
            f"Metrics of each process: http://127.0.0.1:{first_port}/metrics …; "
            "Ctrl-C stops everything.\n",
            flush=True,
        )
        while all(process.poll() is None for process in processes):
            time.sleep(1)
        print("a daphne process exited; stopping", flush=True)
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        if nginx is not None:
            nginx.stop()
        for process in processes:
            stop_daphne(process)
        if synapse is not None:
            synapse.stop()


if __name__ == "__main__":
    sys.exit(main())
