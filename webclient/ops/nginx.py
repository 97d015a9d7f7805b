"""The nginx site of deploy/nginx/webclient.conf, rendered for an installation, and a private
nginx running it (for `make serve-cluster` and the tests: its own main configuration, pid,
logs and temporary files in a directory of its own; nothing of the system's nginx).

    python -m webclient.ops.nginx --server-name chat.example.org \\
        --backend 127.0.0.1:8001 --backend 127.0.0.1:8002 --static-root /var/lib/webclient/static \\
        --certificate /etc/ssl/chat.pem --certificate-key /etc/ssl/chat.key
"""

from __future__ import annotations

import argparse
import datetime
import ipaddress
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent.parent
SITE_TEMPLATE = BASE_DIR / "deploy" / "nginx" / "webclient.conf"
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"


@dataclass
class Site:
    """What deploy/nginx/webclient.conf leaves open."""

    server_name: str
    backends: list[str]
    static_root: Path
    certificate: Path
    certificate_key: Path
    https_listen: str = "443"
    http_listen: str = "80"
    extra: dict[str, str] = field(default_factory=dict)

    def render(self, template: str | None = None) -> str:
        text = SITE_TEMPLATE.read_text() if template is None else template
        https_port = self.https_listen.rsplit(":", 1)[-1]
        values = {
            "SERVER_NAME": self.server_name,
            "BACKENDS": "\n".join(
                f"    server {backend} max_fails=1 fail_timeout=5s;" for backend in self.backends
            ),
            "STATIC_ROOT": str(self.static_root).rstrip("/"),
            "TLS_CERTIFICATE": str(self.certificate),
            "TLS_CERTIFICATE_KEY": str(self.certificate_key),
            "HTTPS_LISTEN": self.https_listen,
            "HTTP_LISTEN": self.http_listen,
            "HTTPS_PORT_SUFFIX": "" if https_port == "443" else f":{https_port}",
            **self.extra,
        }
        for name, value in values.items():
            text = text.replace(f"@{name}@", value)
        if "@" in "".join(line.split("#", 1)[0] for line in text.splitlines()):
            raise ValueError("the site template has a value left to fill in")
        return text


def self_signed_certificate(directory: Path, names: list[str]) -> tuple[Path, Path]:
    """A certificate for local use (localhost, 127.0.0.1): browsers warn about it."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    cert_path, key_path = directory / "tls.crt", directory / "tls.key"
    if cert_path.exists() and key_path.exists():
        return cert_path, key_path
    directory.mkdir(parents=True, exist_ok=True)
    key = ec.generate_private_key(ec.SECP256R1())
    alt: list[x509.GeneralName] = []
    for name in names:
        try:
            alt.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            alt.append(x509.DNSName(name))
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=365))
        .add_extension(x509.SubjectAlternativeName(alt), critical=False)
        .sign(key, hashes.SHA256())
    )
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    key_path.chmod(0o600)
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    return cert_path, key_path


MODULES_ENABLED = Path("/etc/nginx/modules-enabled")
MODULES_PREFIX = Path("/usr/lib/nginx")


def load_modules() -> str:
    """The system's enabled dynamic modules (Brotli among them), with absolute paths: the
    packages' snippets name them relative to the default prefix, not to ours."""
    lines = []
    for snippet in sorted(MODULES_ENABLED.glob("*.conf")):
        for match in re.finditer(r"^\s*load_module\s+([^;\s]+)\s*;", snippet.read_text(), re.M):
            lines.append(f"load_module {MODULES_PREFIX / match.group(1)};")
    return "\n".join(lines)


def main_config(prefix: Path, site_path: Path) -> str:
    """nginx's main configuration for a private instance under `prefix`."""
    user = ""
    if os.geteuid() == 0:
        # Workers run as the invoking user, so they can read its (private) directories.
        user = f"user {pwd.getpwuid(os.getuid()).pw_name};\n"
    return f"""{user}worker_processes 1;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log notice;
{load_modules()}

events {{
    worker_connections 4096;
}}

http {{
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    access_log {prefix}/access.log;
    client_body_temp_path {prefix}/temp/body;
    proxy_temp_path {prefix}/temp/proxy;
    fastcgi_temp_path {prefix}/temp/fastcgi;
    uwsgi_temp_path {prefix}/temp/uwsgi;
    scgi_temp_path {prefix}/temp/scgi;
    sendfile on;
    tcp_nopush on;
    server_tokens off;
    include {site_path};
}}
"""


class Nginx:
    """A private nginx (master in the foreground of its own process) serving one site."""

    def __init__(self, prefix: Path, site: Site) -> None:
        self.prefix = prefix
        self.site = site
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def config_path(self) -> Path:
        return self.prefix / "nginx.conf"

    def write(self) -> None:
        (self.prefix / "temp").mkdir(parents=True, exist_ok=True)
        site_path = self.prefix / "webclient.conf"
        site_path.write_text(self.site.render())
        self.config_path.write_text(main_config(self.prefix, site_path))

    def command(self, *extra: str) -> list[str]:
        return [NGINX, "-p", str(self.prefix), "-e", str(self.prefix / "error.log")] + [
            "-c",
            str(self.config_path),
            *extra,
        ]

    def test_config(self) -> str:
        """`nginx -t`'s verdict; raises when the configuration is refused."""
        done = subprocess.run(self.command("-t"), capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"nginx refused the configuration:\n{done.stderr}")
        return done.stderr

    def start(self, timeout: float = 15) -> Nginx:
        if not Path(NGINX).exists():
            raise RuntimeError("nginx is not installed: run `make nginx` (Debian's nginx)")
        self.write()
        self.test_config()
        log = (self.prefix / "master.log").open("ab")
        self.process = subprocess.Popen(
            self.command("-g", "daemon off;"), stdout=log, stderr=subprocess.STDOUT
        )
        host, port = _host_port(self.site.https_listen)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"nginx exited:\n{self.error_log()}")
            with socket.socket() as sock:
                if sock.connect_ex((host, port)) == 0:
                    return self
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"nginx did not listen on {host}:{port}:\n{self.error_log()}")

    def error_log(self) -> str:
        path = self.prefix / "error.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self, timeout: float = 10) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGQUIT)  # graceful: finish what is open
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def _host_port(listen: str) -> tuple[str, int]:
    host, _, port = listen.rpartition(":")
    return (host or "127.0.0.1").strip("[]"), int(port)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Render deploy/nginx/webclient.conf.")
    parser.add_argument("--server-name", required=True)
    parser.add_argument("--backend", action="append", required=True, help="host:port of daphne")
    parser.add_argument("--static-root", required=True, help="STATIC_ROOT of the processes")
    parser.add_argument("--certificate", required=True)
    parser.add_argument("--certificate-key", required=True)
    parser.add_argument("--https-listen", default="443")
    parser.add_argument("--http-listen", default="80")
    args = parser.parse_args(argv)
    site = Site(
        server_name=args.server_name,
        backends=args.backend,
        static_root=Path(args.static_root),
        certificate=Path(args.certificate),
        certificate_key=Path(args.certificate_key),
        https_listen=args.https_listen,
        http_listen=args.http_listen,
    )
    sys.stdout.write(site.render())
    return 0


if __name__ == "__main__":
    sys.exit(main())
