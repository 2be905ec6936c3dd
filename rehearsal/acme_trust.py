"""What the machines have of the ACME stand-in (rehearsal/acme_stand_in.py), as EC2 machines
have of Let's Encrypt: its HTTPS endpoint's CA in the system's trust store, and certbot pointed
at it, with a wrapper that hands certbot Pebble's staging name for --test-cert. The ACME
stand-in shares these files into the instances; the trust script (rehearsal/acme/) installs
them.
"""

from pathlib import Path

from rehearsal.acme_pebble_files import STAGING_HOST, directory_url

FILES = Path(__file__).resolve().parent / "acme"
# On the instances (rehearsal/acme/trust-acme-stand-in installs them): the CA in the system's trust
# store, and certbot's user configuration. Not /etc/letsencrypt/cli.ini: on the hub that
# directory is a link onto the hub's own volume (scripts/mount-hub-state --link), whose files
# win over the machine's. certbot reads $XDG_CONFIG_HOME/letsencrypt/cli.ini as well, by default
# /root/.config/..., which sudo and systemd both give root (sudo resets HOME and XDG_*).
TRUSTED_CA = "/usr/local/share/ca-certificates/rehearsal-acme-stand-in.crt"
CERTBOT_SETTINGS = "/root/.config/letsencrypt/cli.ini"
TRUST_SCRIPT = FILES / "trust-acme-stand-in"
CERTBOT_WRAPPER = FILES / "certbot-wrapper"


def trust_files(ca_certificate: str) -> dict[str, str]:
    """What trust-acme-stand-in installs from the directory it is given, by name: the CA of
    Pebble's HTTPS endpoint (PEM), certbot's settings naming Pebble's directory, and certbot's
    wrapper."""
    settings = (
        "# The local cloud's ACME stand-in plays Let's Encrypt (rehearsal/acme_stand_in.py).\n"
        f"server = {directory_url()}\n"
    )
    return {
        "ca.crt": ca_certificate,
        "cli.ini": settings,
        CERTBOT_WRAPPER.name: CERTBOT_WRAPPER.read_text(),
    }


def trust_command(shared: str) -> list[str]:
    """The command (its script on stdin: TRUST_SCRIPT) that installs trust_files from `shared`."""
    staging_server = directory_url(STAGING_HOST)
    return ["bash", "-s", "--", shared, TRUSTED_CA, CERTBOT_SETTINGS, staging_server]
