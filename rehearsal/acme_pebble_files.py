"""Pebble's own files, as the ACME stand-in (rehearsal/acme_stand_in.py) gives them to its
container: the names and ports it is reached at, its HTTPS endpoint's CA and certificate (the CA
made once per rehearsal and kept, so a repeated `up` changes nothing on the machines), and its
configuration.
"""

import json
import subprocess
from pathlib import Path

from infra import layout

ACME_PORT = 14000  # Pebble's ACME API (HTTPS)
MANAGEMENT_PORT = 15000  # Pebble's management API (HTTPS): /roots/0 is what it issues under
DIRECTORY_PATH = "/dir"  # Pebble's directory (it serves no /directory, on purpose)
CONFIG_DIR = "/etc/pebble"  # in Pebble's container: its configuration and TLS files
# The names Pebble is reached by (Docker's aliases on the public network, and in its TLS
# certificate): one per Let's Encrypt CA, in Let's Encrypt's own pattern.
PRODUCTION_HOST = "acme-v02.rehearsal.test"
STAGING_HOST = "acme-staging-v02.rehearsal.test"
TLS_DAYS = 365  # the HTTPS endpoint's CA and certificate: a rehearsal lives days, not years


def _openssl(*args: str) -> None:
    subprocess.run(["openssl", *args], capture_output=True, check=True)


def write_tls_files(directory: Path, address: str) -> None:
    """Pebble's TLS files in `directory`: a CA (ca.pem; made once, kept) and, signed by it,
    Pebble's certificate (cert.pem, key.pem) for its names and `address`; and its config."""
    ca_key, ca_cert = directory / "ca-key.pem", directory / "ca.pem"
    key, request, cert = directory / "key.pem", directory / "request.pem", directory / "cert.pem"
    if not ca_cert.exists():
        _openssl(
            "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-days", str(TLS_DAYS), "-subj", "/CN=camphub test ACME CA", "-keyout", str(ca_key),
            "-out", str(ca_cert),
        )  # fmt: skip
    _openssl(
        "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
        "-subj", f"/CN={PRODUCTION_HOST}", "-keyout", str(key), "-out", str(request),
    )  # fmt: skip
    names = [f"DNS:{PRODUCTION_HOST}", f"DNS:{STAGING_HOST}", f"IP:{address}"]
    extensions = directory / "extensions.cnf"
    extensions.write_text(f"subjectAltName={','.join(names)}\nextendedKeyUsage=serverAuth\n")
    _openssl(
        "x509", "-req", "-in", str(request), "-CA", str(ca_cert), "-CAkey", str(ca_key),
        "-CAcreateserial", "-days", str(TLS_DAYS), "-extfile", str(extensions), "-out", str(cert),
    )  # fmt: skip
    key.chmod(0o644)  # read by Pebble in its container; test material only
    (directory / "pebble-config.json").write_text(json.dumps(pebble_config(), indent=2))


def pebble_config() -> dict:
    return {
        "pebble": {
            "listenAddress": f"0.0.0.0:{ACME_PORT}",
            "managementListenAddress": f"0.0.0.0:{MANAGEMENT_PORT}",
            "certificate": f"{CONFIG_DIR}/cert.pem",
            "privateKey": f"{CONFIG_DIR}/key.pem",
            "httpPort": layout.HTTP_PORT,  # where Let's Encrypt validates: the hub's HTTP port
            "tlsPort": layout.HTTPS_PORT,
            "ocspResponderURL": "",
            "externalAccountBindingRequired": False,
        }
    }


def directory_url(host: str = PRODUCTION_HOST) -> str:
    return f"https://{host}:{ACME_PORT}{DIRECTORY_PATH}"
