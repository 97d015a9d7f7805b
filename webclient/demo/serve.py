"""`make serve`: the client on http://127.0.0.1:8000, plus a demo homeserver when none is set.

With `MATRIX_HOMESERVER` set, only the client runs, with that homeserver pre-filled on the
login page. Without it, a local Synapse with demo accounts and rooms starts first (kept in
the data directory between runs) and its credentials are printed.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

DEMO_PORT = 8008


def _port_free(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) != 0


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main() -> int:
    # `kill` (SIGTERM) stops the demo homeserver too, not only Ctrl-C.
    signal.signal(signal.SIGTERM, _interrupt)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webclient.settings")
    host = os.environ.get("HOST", "127.0.0.1")
    port = os.environ.get("PORT", "8000")
    env = dict(os.environ)
    synapse = None
    if not os.environ.get("MATRIX_HOMESERVER", "").strip():
        from django.conf import settings

        from webclient.demo.homeserver import LocalSynapse
        from webclient.demo.seed import seed_demo

        data_dir = Path(settings.DATA_DIR) / "demo-homeserver"
        data_dir.mkdir(parents=True, exist_ok=True)
        synapse = LocalSynapse(data_dir, port=DEMO_PORT if _port_free(DEMO_PORT) else None)
        print(f"Starting a demo homeserver in {data_dir} …", flush=True)
        synapse.start()
        users = seed_demo(synapse)
        env["MATRIX_HOMESERVER"] = synapse.url
        print("\nDemo homeserver:", synapse.url)
        print("Demo accounts (username / password):")
        for user in users:
            print(f"  {user.localpart:<8} / {user.password}    ({user.user_id})")
    print(f"\nwebclient: http://{host}:{port}/  (Ctrl-C stops everything)\n", flush=True)
    daphne = subprocess.Popen(
        [sys.executable, "-m", "daphne", "-b", host, "-p", port, "webclient.asgi:application"],
        env=env,
    )
    try:
        return daphne.wait()
    except KeyboardInterrupt:
        return 0
    finally:
        if daphne.poll() is None:
            daphne.terminate()
            try:
                daphne.wait(10)
            except subprocess.TimeoutExpired:
                daphne.kill()
        if synapse is not None:
            synapse.stop()


if __name__ == "__main__":
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webclient.settings")
    django.setup()
    sys.exit(main())
