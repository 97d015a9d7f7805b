"""A real, throw-away Synapse homeserver for tests and the developer demo.

The test suite and `make serve` both need a homeserver that behaves exactly like the one users
run, so nothing here is a mock: `LocalSynapse` generates a Synapse config in a data directory,
rewrites the parts that matter (loopback-only listener, SQLite, shared-secret registration,
rate limits, an unbuffered access log) and runs `synapse.app.homeserver` as a subprocess.

Only the standard library is used (urllib for HTTP, JSON written as YAML for the config) so that
importing this module is cheap and does not need Synapse installed in the importing process.
"""

from __future__ import annotations

import atexit
import hashlib
import hmac
import json
import logging
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

logger = logging.getLogger(__name__)

__all__ = [
    "LocalSynapse",
    "MatrixHTTPError",
    "RegisteredUser",
    "SynapseStartError",
    "matrix_request",
]

# Every limiter Synapse reads from its config (synapse/config/ratelimiting.py, 1.120-1.163).
# Relaxed mode sets all of them very high so tests never wait on a token bucket; unknown keys are
# ignored by older Synapse versions, so listing a few extra ones is harmless.
_RATE_LIMIT_KEYS: dict[str, tuple[str, ...]] = {
    "rc_message": (),
    "rc_registration": (),
    "rc_registration_token_validity": (),
    "rc_login": ("address", "account", "failed_attempts"),
    "rc_admin_redaction": (),
    "rc_joins": ("local", "remote"),
    "rc_joins_per_room": (),
    "rc_key_requests": (),
    "rc_3pid_validation": (),
    "rc_invites": ("per_room", "per_user", "per_issuer"),
    "rc_third_party_invite": (),
    "rc_media_create": (),
    "rc_presence": ("per_user",),
    "rc_delayed_event_mgmt": (),
    "rc_room_creation": (),
    "rc_reports": (),
}
_RELAXED_LIMIT = {"per_second": 100_000, "burst_count": 1_000_000}

# The access logger writes e.g.
#   ... - {@alice:localhost} Processed request: 0.002sec/... 253B 200 "GET /_matrix/... HTTP/1.1"
# The braces hold the requester, or "authenticated_entity|requester" when an admin puppets a user.
_ACCESS_LINE = re.compile(
    r'\{(?P<who>[^}]*)\} Processed request: .*? "(?P<method>[A-Z]+) (?P<uri>\S+)'
)

# What `synapse --generate-config` does for the signing key, without importing all of Synapse.
_KEYGEN = """
import sys
from signedjson.key import generate_signing_key, write_signing_keys
with open(sys.argv[1], "x") as f:
    write_signing_keys(f, [generate_signing_key(sys.argv[2])])
"""

# Proxies must never see loopback traffic (and an http_proxy in the environment would break it).
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class SynapseStartError(RuntimeError):
    """Synapse exited or did not answer in time; the message carries the log tail."""


class MatrixHTTPError(Exception):
    """A non-2xx answer from the homeserver, with the Matrix error code when there is one."""

    def __init__(self, status: int, body: dict[str, Any], method: str, path: str) -> None:
        self.status = status
        self.body = body
        self.errcode: str | None = body.get("errcode")
        self.error: str | None = body.get("error")
        self.retry_after_ms: int | None = body.get("retry_after_ms")
        self.method = method
        self.path = path
        super().__init__(f"{method} {path} -> HTTP {status} {self.errcode}: {self.error}")


def matrix_request(
    base_url: str,
    method: str,
    path: str,
    body: dict[str, Any] | None = None,
    *,
    token: str | None = None,
    timeout: float = 30.0,
) -> dict[str, Any]:
    """Make one client-server (or admin) API call and return the decoded JSON body.

    `path` is appended to `base_url` as given, so callers quote room aliases etc. themselves.
    Raises `MatrixHTTPError` for HTTP errors so callers can branch on `errcode`.
    """
    url = base_url.rstrip("/") + path
    if not url.startswith(("http://", "https://")):
        raise ValueError(f"not an http(s) URL: {url!r}")
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method.upper())  # noqa: S310
    if data is not None:
        request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with _OPENER.open(request, timeout=timeout) as response:
            raw = response.read()
    except urllib.error.HTTPError as exc:
        raw = exc.read()
        try:
            payload = json.loads(raw) if raw else {}
        except ValueError:
            payload = {"error": raw.decode(errors="replace")}
        if not isinstance(payload, dict):
            payload = {"error": str(payload)}
        raise MatrixHTTPError(exc.code, payload, method.upper(), path) from None
    return json.loads(raw) if raw else {}


@dataclass(frozen=True)
class RegisteredUser:
    """Credentials of an account on the local homeserver (one logged-in device)."""

    user_id: str
    password: str
    access_token: str
    device_id: str

    @property
    def localpart(self) -> str:
        return self.user_id[1:].split(":", 1)[0]


def _free_loopback_port() -> int:
    """Ask the kernel for an unused port; the tiny race until Synapse binds is acceptable."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _tail(path: Path, lines: int = 40) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return f"(no {path.name})"
    return "\n".join(text.splitlines()[-lines:])


class LocalSynapse:
    """One Synapse process bound to 127.0.0.1 with all its state in `data_dir`.

    The data directory survives `stop()`, so a second `start()` (or a second demo run) keeps the
    same users, rooms and secrets.
    """

    def __init__(
        self,
        data_dir: Path,
        port: int | None = None,
        server_name: str = "localhost",
        relaxed_rate_limits: bool = True,
        python: str = sys.executable,
        extra_config: dict[str, Any] | None = None,
    ) -> None:
        self.data_dir = Path(data_dir).resolve()
        self.port = port
        self.server_name = server_name
        self.relaxed_rate_limits = relaxed_rate_limits
        self.python = python
        # Top-level homeserver.yaml keys merged over the built config (e.g. registration).
        self.extra_config = dict(extra_config or {})
        self._process: subprocess.Popen[bytes] | None = None
        self._secrets: dict[str, str] | None = None

    # -- paths -------------------------------------------------------------------------------

    @property
    def config_path(self) -> Path:
        return self.data_dir / "homeserver.yaml"

    @property
    def signing_key_path(self) -> Path:
        return self.data_dir / f"{self.server_name}.signing.key"

    @property
    def log_path(self) -> Path:
        """Synapse's own log, including the access log lines `count_requests` reads."""
        return self.data_dir / "homeserver.log"

    @property
    def output_path(self) -> Path:
        """stdout/stderr of the Synapse process (tracebacks before logging is set up land here)."""
        return self.data_dir / "synapse.out"

    @property
    def url(self) -> str:
        if self.port is None:
            raise RuntimeError("LocalSynapse has no port yet; call start() first")
        return f"http://127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    @property
    def registration_shared_secret(self) -> str:
        return self._load_secrets()["registration_shared_secret"]

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self, timeout: float = 60) -> LocalSynapse:
        """Write the config, launch Synapse and block until `/versions` answers."""
        if self.running:
            return self
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if self.port is None:
            self.port = _free_loopback_port()
        if not self.signing_key_path.exists():
            self._create_signing_key()
        self._write_config()

        started = time.monotonic()
        with self.output_path.open("ab") as out:
            self._process = subprocess.Popen(
                [
                    self.python,
                    "-m",
                    "synapse.app.homeserver",
                    "--config-path",
                    str(self.config_path),
                ],
                cwd=self.data_dir,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        atexit.register(self.stop)
        try:
            self._wait_until_ready(timeout)
        except BaseException:
            self.stop()
            raise
        logger.info(
            "Synapse %s up at %s in %.2fs (data in %s)",
            self.server_name,
            self.url,
            time.monotonic() - started,
            self.data_dir,
        )
        return self

    def stop(self, timeout: float = 15) -> None:
        """Terminate Synapse (SIGTERM, then SIGKILL if it hangs). Safe to call twice."""
        process, self._process = self._process, None
        atexit.unregister(self.stop)
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=timeout)

    def __enter__(self) -> LocalSynapse:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _wait_until_ready(self, timeout: float) -> None:
        assert self._process is not None
        deadline = time.monotonic() + timeout
        while True:
            code = self._process.poll()
            if code is not None:
                raise SynapseStartError(
                    f"Synapse exited with code {code} during start-up.\n{self._log_tails()}"
                )
            try:
                matrix_request(self.url, "GET", "/_matrix/client/versions", timeout=2)
                return
            except (OSError, MatrixHTTPError, ValueError):
                pass
            if time.monotonic() > deadline:
                raise SynapseStartError(
                    f"Synapse did not answer on {self.url} within {timeout}s.\n{self._log_tails()}"
                )
            time.sleep(0.05)

    def _log_tails(self) -> str:
        return (
            f"--- {self.output_path} ---\n{_tail(self.output_path)}\n"
            f"--- {self.log_path} ---\n{_tail(self.log_path)}"
        )

    # -- config ------------------------------------------------------------------------------

    def _create_signing_key(self) -> None:
        """Create the server's signing key, the one generated file we keep (homeserver.yaml and
        the log config are rewritten on every start).

        signedjson (a Synapse dependency) does it in ~0.15 s; `--generate-config` imports all of
        Synapse and takes ~2 s, so it is only the fallback.
        """
        keygen = subprocess.run(
            [self.python, "-c", _KEYGEN, str(self.signing_key_path), "a_" + secrets.token_hex(2)],
            cwd=self.data_dir,
            capture_output=True,
            text=True,
            check=False,
        )
        if keygen.returncode == 0:
            return
        logger.info("signedjson key generation failed, using --generate-config: %s", keygen.stderr)
        result = subprocess.run(
            [
                self.python,
                "-m",
                "synapse.app.homeserver",
                "--server-name",
                self.server_name,
                "--config-path",
                str(self.config_path),
                "--generate-config",
                "--report-stats=no",
                "--data-directory",
                str(self.data_dir),
            ],
            cwd=self.data_dir,
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise SynapseStartError(
                f"synapse --generate-config failed ({result.returncode}):\n"
                f"{result.stdout}\n{result.stderr}"
            )

    def _load_secrets(self) -> dict[str, str]:
        """Secrets live in a small JSON file so they are kept across restarts and rewrites."""
        if self._secrets is None:
            path = self.data_dir / "harness-secrets.json"
            if path.exists():
                self._secrets = json.loads(path.read_text())
            else:
                self._secrets = {
                    name: secrets.token_urlsafe(32)
                    for name in ("registration_shared_secret", "macaroon_secret_key", "form_secret")
                }
                self.data_dir.mkdir(parents=True, exist_ok=True)
                path.write_text(json.dumps(self._secrets))
                path.chmod(0o600)
        return self._secrets

    def build_config(self) -> dict[str, Any]:
        """The homeserver.yaml contents (as a dict) for the current settings."""
        data = self.data_dir
        config: dict[str, Any] = {
            "server_name": self.server_name,
            "public_baseurl": self.url + "/",
            "listeners": [
                {
                    # 127.0.0.1 only: the generated "::1 + 127.0.0.1" fails on some machines.
                    "port": self.port,
                    "bind_addresses": ["127.0.0.1"],
                    "type": "http",
                    "tls": False,
                    "x_forwarded": False,
                    "resources": [{"names": ["client", "federation"], "compress": False}],
                }
            ],
            "database": {"name": "sqlite3", "args": {"database": str(data / "homeserver.db")}},
            "log_config": str(data / "log.config"),
            "media_store_path": str(data / "media_store"),
            "signing_key_path": str(self.signing_key_path),
            **self._load_secrets(),
            "report_stats": False,
            "enable_metrics": False,
            "enable_registration": False,
            "trusted_key_servers": [],
            "suppress_key_server_warning": True,
            "presence": {"enabled": False},
            "url_preview_enabled": False,
            # bcrypt's default 12 rounds cost ~0.3 s per register/login; a loopback
            # throw-away server does not need that, and tests register many users.
            "bcrypt_rounds": 4,
            # Embeds may read rooms that allow guests through a guest account.
            "allow_guest_access": True,
            # Lets people find each other in the demo without sharing a room first.
            "user_directory": {"enabled": True, "search_all_users": True},
        }
        if self.relaxed_rate_limits:
            for key, parts in _RATE_LIMIT_KEYS.items():
                if parts:
                    config[key] = {part: dict(_RELAXED_LIMIT) for part in parts}
                else:
                    config[key] = dict(_RELAXED_LIMIT)
        config.update(self.extra_config)
        return config

    def _log_config(self) -> dict[str, Any]:
        """A plain FileHandler: every INFO line is written at once (Synapse buffers by default)."""
        return {
            "version": 1,
            "formatters": {
                "precise": {
                    "format": "%(asctime)s - %(name)s - %(lineno)d - %(levelname)s - "
                    "%(request)s - %(message)s"
                }
            },
            "handlers": {
                "file": {
                    "class": "logging.FileHandler",
                    "formatter": "precise",
                    "filename": str(self.log_path),
                    "encoding": "utf8",
                }
            },
            "loggers": {"synapse.storage.SQL": {"level": "INFO"}},
            "root": {"level": "INFO", "handlers": ["file"]},
            "disable_existing_loggers": False,
        }

    def _write_config(self) -> None:
        # JSON is valid YAML, so no YAML library is needed here.
        header = "# Written by webclient.demo.homeserver on every start; edits are overwritten.\n"
        self.config_path.write_text(header + json.dumps(self.build_config(), indent=2) + "\n")
        (self.data_dir / "log.config").write_text(json.dumps(self._log_config(), indent=2) + "\n")

    # -- accounts ----------------------------------------------------------------------------

    def register(
        self,
        localpart: str,
        password: str,
        admin: bool = False,
        displayname: str | None = None,
    ) -> RegisteredUser:
        """Create an account via the shared-secret admin API (no UI auth flow, no rate limit)."""
        path = "/_synapse/admin/v1/register"
        nonce = matrix_request(self.url, "GET", path)["nonce"]
        mac = hmac.new(self.registration_shared_secret.encode(), digestmod=hashlib.sha1)
        mac.update(b"\0".join([nonce.encode(), localpart.encode(), password.encode()]))
        mac.update(b"\0admin" if admin else b"\0notadmin")
        body: dict[str, Any] = {
            "nonce": nonce,
            "username": localpart,
            "password": password,
            "admin": admin,
            "mac": mac.hexdigest(),
        }
        if displayname is not None:
            body["displayname"] = displayname
        answer = matrix_request(self.url, "POST", path, body)
        return RegisteredUser(
            user_id=answer["user_id"],
            password=password,
            access_token=answer["access_token"],
            device_id=answer["device_id"],
        )

    def login(self, user: str, password: str, device_id: str | None = None) -> RegisteredUser:
        """Log in with a password (`user` is a localpart or full user ID); a new device unless
        `device_id` names an existing one."""
        body: dict[str, Any] = {
            "type": "m.login.password",
            "identifier": {"type": "m.id.user", "user": user},
            "password": password,
        }
        if device_id is not None:
            body["device_id"] = device_id
        answer = matrix_request(self.url, "POST", "/_matrix/client/v3/login", body)
        return RegisteredUser(
            user_id=answer["user_id"],
            password=password,
            access_token=answer["access_token"],
            device_id=answer["device_id"],
        )

    # -- log inspection ----------------------------------------------------------------------

    def count_requests(self, path_fragment: str, user_id: str | None = None) -> int:
        """Count completed requests whose `"METHOD URI"` contains `path_fragment`.

        Lines come from the access log, written when a request *finishes* (a long-poll `/sync`
        in flight is not counted yet). `path_fragment` may include the method, e.g.
        `"GET /_matrix/client/v3/sync"`. With `user_id`, only that requester's requests count.
        """
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return 0
        count = 0
        for match in _ACCESS_LINE.finditer(text):
            if path_fragment not in f"{match['method']} {match['uri']}":
                continue
            if user_id is not None and user_id not in match["who"].split("|"):
                continue
            count += 1
        return count

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"<LocalSynapse {self.server_name} port={self.port} {state} {self.data_dir}>"


def _main() -> None:  # pragma: no cover - manual use
    """`python -m webclient.demo.homeserver DATA_DIR [PORT]`: run until Ctrl-C."""
    logging.basicConfig(level=logging.INFO)
    data_dir = Path(sys.argv[1] if len(sys.argv) > 1 else ".synapse")
    port = int(sys.argv[2]) if len(sys.argv) > 2 else None
    with LocalSynapse(data_dir, port=port) as hs:
        print(f"Synapse running at {hs.url}; log: {hs.log_path}. Ctrl-C to stop.", flush=True)
        try:
            while hs.running:
                time.sleep(1)
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":  # pragma: no cover
    _main()
