"""Debian's nginx in front of the hub, as on the hub machine, but as a process of the test.

It runs with a prefix and main config of its own under the test's directory (nothing in
/etc/nginx is touched) and includes the real site, rendered for 127.0.0.1 and high ports.
"""

import base64
import hashlib
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

import requests
from waiting import stop_process, wait_for

from infra import layout
from infra.layout import PROJECT_DIR

MAIN_CONFIG_TEMPLATE = Path(__file__).with_name("nginx-main.conf")
SITE_TEMPLATE = PROJECT_DIR / "nginx" / "camphub.conf.template"
LOOPBACK = "127.0.0.1"
TEMP_DIRS = ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
READY_TIMEOUT_SECONDS = 30
# nginx's workers drop to this user; they must be able to write the request-body buffers.
WORKER_USER = "nobody"


@dataclass(frozen=True)
class NginxFront:
    """nginx in the foreground, a child of the test run, and the log of its errors."""

    process: subprocess.Popen
    error_log: Path  # as nginx-main.conf names it

    def stop(self) -> None:
        stop_process(self.process)


def make_self_signed_certificate(directory: Path, address: str) -> tuple[Path, Path]:
    """A certificate for an IP address, with the SAN browsers and clients require."""
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-days",
            "2",
            "-subj",
            f"/CN={address}",
            "-addext",
            f"subjectAltName=IP:{address}",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    key.chmod(0o600)
    return cert, key


def spki_sha256(cert: Path) -> str:
    """The base64 SHA-256 of a certificate's public key, the form Chromium pins keys by."""
    public_key = subprocess.run(
        ["openssl", "x509", "-in", str(cert), "-noout", "-pubkey"],
        check=True,
        capture_output=True,
    ).stdout
    der = subprocess.run(
        ["openssl", "pkey", "-pubin", "-outform", "DER"],
        input=public_key,
        check=True,
        capture_output=True,
    ).stdout
    return base64.b64encode(hashlib.sha256(der).digest()).decode()


def write_main_config(prefix: Path, site: Path) -> Path:
    for name in TEMP_DIRS:
        temp = prefix / "temp" / name
        temp.mkdir(parents=True, exist_ok=True)
        subprocess.run(["chown", WORKER_USER, str(temp)], check=True)
    text = MAIN_CONFIG_TEMPLATE.read_text()
    text = text.replace("@prefix@", str(prefix)).replace("@site@", str(site))
    config = prefix / "nginx.conf"
    config.write_text(text)
    return config


def check_config(config: Path, prefix: Path) -> None:
    result = subprocess.run(
        ["nginx", "-t", "-p", str(prefix), "-c", str(config)],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"nginx -t rejected {config}:\n{result.stderr}")


def start(prefix: Path, config: Path, health_url: str, ca_file: Path) -> NginxFront:
    """Run nginx in the foreground as a child process; return once it proxies to the hub."""
    check_config(config, prefix)
    with (prefix / "stderr.log").open("wb") as stderr:
        process = subprocess.Popen(
            ["nginx", "-p", str(prefix), "-c", str(config), "-g", "daemon off;"],
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
    front = NginxFront(process, prefix / "error.log")

    def proxying() -> bool:
        if process.poll() is not None:
            raise RuntimeError(f"nginx exited with {process.returncode}; see {front.error_log}")
        return requests.get(health_url, verify=str(ca_file), timeout=5).ok

    try:
        wait_for(proxying, timeout=READY_TIMEOUT_SECONDS, what=f"nginx answering {health_url}")
    except BaseException:
        front.stop()
        raise
    return front


def render_site(
    prefix: Path,
    *,
    http_port: int,
    https_port: int,
    hub_port: int,
    cert: Path,
    key: Path,
    server_name: str,
) -> Path:
    """The real site template with its placeholders filled as configure-nginx fills them.

    One change for the test: each `listen <port>` binds loopback only, so the test's high
    ports never open on the machine's other interfaces.
    """
    values = {
        "SERVER_NAME": server_name,
        "HTTP_PORT": http_port,
        "HTTPS_PORT": https_port,
        "HUB_PORT": hub_port,
        "TLS_CERT": cert,
        "TLS_KEY": key,
        "ACME_WEBROOT": prefix / "acme",
        "LANDING_PAGES": prefix / "landing-pages",
        "LANDING_PAGE_PATH": layout.LANDING_PAGE_PATH,
    }
    text = SITE_TEMPLATE.read_text()
    for name, value in values.items():
        text = text.replace(f"{{{{{name}}}}}", str(value))
    if "{{" in text:
        raise AssertionError(f"{SITE_TEMPLATE} has a placeholder the live test does not fill")
    text = re.sub(r"^(\s*listen\s+)(\d+)", rf"\g<1>{LOOPBACK}:\g<2>", text, flags=re.MULTILINE)
    site = prefix / "camphub.conf"
    site.write_text(text)
    return site
