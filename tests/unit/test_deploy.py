"""The production configuration without servers: `manage.py check --deploy` with the
documented settings (deploy/webclient.env.example), JSON logs, the systemd units' daphne
command, the nginx site's rendering, and the pieces of the metrics."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from webclient.ops import metrics
from webclient.ops.cluster import DAPHNE_ARGS
from webclient.ops.nginx import SITE_TEMPLATE, Site

BASE_DIR = Path(__file__).resolve().parents[2]
ENV_EXAMPLE = BASE_DIR / "deploy" / "webclient.env.example"
UNITS = BASE_DIR / "deploy" / "systemd"


def documented_env(tmp_path: Path) -> dict[str, str]:
    """deploy/webclient.env.example as systemd reads it, with a real secret and local paths."""
    values = {}
    for line in ENV_EXAMPLE.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            name, _, value = line.partition("=")
            values[name] = value
    values["SECRET_KEY"] = "k" + os.urandom(40).hex()
    values["WEBCLIENT_DATA_DIR"] = str(tmp_path / "data")
    values["STATIC_ROOT"] = str(tmp_path / "static")
    base = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "REDIS"))}
    return {**base, **values, "DJANGO_SETTINGS_MODULE": "webclient.settings"}


def manage(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def test_check_deploy_is_clean_with_the_documented_settings(tmp_path):
    env = documented_env(tmp_path)
    collected = manage(env, "collectstatic", "--noinput")
    assert collected.returncode == 0, collected.stderr
    done = manage(env, "check", "--deploy", "--fail-level", "WARNING")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "System check identified no issues" in done.stdout, done.stdout + done.stderr


def test_check_deploy_catches_what_the_documented_settings_fix(tmp_path):
    env = documented_env(tmp_path)
    env["SECRET_KEY"] = "change-me-to-a-long-random-string-of-at-least-fifty-characters-0"
    for name in ("BEHIND_TLS_PROXY", "SECURE_HSTS_SECONDS", "REDIS_URL"):
        env.pop(name)
    done = manage(env, "check", "--deploy")
    out = done.stdout + done.stderr
    assert done.returncode != 0
    for check in (
        "webclient.E001",  # the placeholder secret
        "webclient.E002",  # STATIC_COLLECTED without collectstatic
        "webclient.W001",  # PostgreSQL without Redis
        "security.W004",  # no HSTS
        "security.W008",  # no HTTPS redirect
        "security.W012",  # session cookie not Secure
    ):
        assert check in out, out


def test_json_logs_on_request(tmp_path):
    env = {
        **os.environ,
        "LOG_FORMAT": "json",
        "WEBCLIENT_DATA_DIR": str(tmp_path),
        "DJANGO_SETTINGS_MODULE": "webclient.settings",
    }
    code = (
        "import django, logging; django.setup();"
        "logging.getLogger('webclient.live').warning('socket %s gone', 7, extra={'room': '!r'});"
        "logging.getLogger('daphne.server').info('listening')"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=BASE_DIR, env=env, capture_output=True, text=True
    )
    lines = [json.loads(line) for line in done.stderr.splitlines() if line.strip()]
    assert lines[0]["message"] == "socket 7 gone"
    assert lines[0]["level"] == "WARNING" and lines[0]["logger"] == "webclient.live"
    assert lines[0]["room"] == "!r" and "time" in lines[0]
    # Everyone's loggers, not only ours.
    assert lines[1]["logger"] == "daphne.server"


def test_the_units_run_daphne_as_the_cluster_does():
    unit = (UNITS / "webclient@.service").read_text()
    exec_start = re.search(r"^ExecStart=(.*)$", unit, re.M).group(1).split()
    assert exec_start[:3] == ["/opt/webclient/.venv/bin/python", "-m", "daphne"]
    assert exec_start[3:7] == ["-b", "127.0.0.1", "-p", "%i"]
    assert exec_start[7:] == DAPHNE_ARGS
    assert re.search(r"^KillSignal=SIGTERM$", unit, re.M)
    # systemd waits longer than the process's own graceful shutdown.
    assert int(re.search(r"^TimeoutStopSec=(\d+)$", unit, re.M).group(1)) > 10
    setup = (UNITS / "webclient-setup.service").read_text()
    assert "manage.py migrate --noinput" in setup
    assert "manage.py collectstatic --noinput" in setup


def test_the_site_renders_every_value(tmp_path):
    site = Site(
        server_name="chat.example.org",
        backends=["127.0.0.1:8001", "127.0.0.1:8002"],
        static_root=tmp_path / "static",
        certificate=tmp_path / "c.pem",
        certificate_key=tmp_path / "k.pem",
    )
    text = site.render()
    code = "\n".join(line.split("#", 1)[0] for line in text.splitlines())
    assert "@" not in code
    assert code.count("server 127.0.0.1:8002") == 2  # pages and websockets
    assert f"alias {tmp_path / 'static'}/;" in code
    assert "return 301 https://$host$request_uri;" in code
    assert "listen 443 ssl http2;" in code
    ws = code[code.index("location /ws/") :]
    ws = ws[: ws.index("}")]
    assert "proxy_set_header Upgrade $http_upgrade;" in ws
    assert re.search(r"proxy_read_timeout (\d+)h;", ws)
    with pytest.raises(ValueError):
        site.render(SITE_TEMPLATE.read_text() + "\nlisten @UNKNOWN@;\n")


def test_metrics_are_for_listed_addresses_or_the_token(settings):
    settings.METRICS_ALLOWED_IPS = ["127.0.0.1", "::1"]
    settings.METRICS_TOKEN = ""
    assert metrics.allowed("127.0.0.1", None)
    assert not metrics.allowed("192.0.2.7", None)
    assert not metrics.allowed("192.0.2.7", "Bearer anything")
    settings.METRICS_TOKEN = "s3cret-token"
    assert metrics.allowed("192.0.2.7", "Bearer s3cret-token")
    assert not metrics.allowed("192.0.2.7", "Bearer s3cret-tokem")
    assert not metrics.allowed(None, "Basic s3cret-token")


def test_sync_lag_follows_each_sessions_sync_count():
    clock = metrics.SyncClock()
    syncing = SimpleNamespace(sync_count=1)
    stuck = SimpleNamespace(sync_count=0)
    stamped = SimpleNamespace(sync_count=9, last_sync_at=995.0)
    assert set(clock.observe([syncing, stuck, stamped], now=1000).values()) == {0, 5}
    syncing.sync_count = 2
    ages = clock.observe([syncing, stuck, stamped], now=1030)
    assert ages[id(syncing)] == 0  # synced since: fresh
    assert ages[id(stuck)] == 30  # no sync since it was first seen
    assert ages[id(stamped)] == 35  # the session's own clock when it keeps one
    assert clock.observe([], now=1031) == {}


def test_websocket_kinds():
    assert metrics.websocket_kind(b"room=%21a&epoch=x&pos=3") == "page"
    assert metrics.websocket_kind(b"kiosk=abc") == "kiosk"
    assert metrics.websocket_kind(b"ticket=abc") == "embed"
