"""A machine replaced during the camp week, as `pulumi up --replace <its instance>` does (or
`pulumi refresh && pulumi up` after AWS retired it): the rehearsed camp, students' servers
running, the organizer runs `up` with the replacement and nothing else. Afterwards every student
signs in through the browser, finds the file they wrote before, and runs a cell.

A new hub serves the same certificate from the hub's own volume, never making (or, with a domain,
requesting) another; the dev stack's certificate is self-signed, so what is checked is that
configure-nginx found it there (its file unchanged) and the link that keeps Let's Encrypt's
directory on the same volume. (With a domain and Pebble's certificate:
test_lets_encrypt_stand_in.py, whose replacement comes first in the suite, so the one here is the
camp's second: a hub that was itself a replacement hands its volume on too.)
"""

import secrets
import ssl
import time
from urllib.parse import urlsplit

import pytest
import student_browser
from playwright.sync_api import sync_playwright
from waiting import wait_for

from infra import layout

pytestmark = pytest.mark.live

SELF_SIGNED_CERTIFICATE = f"{layout.HUB_TLS_DIR}/camphub-selfsigned.crt"
KEPT_FILE = "kept.txt"
# The hub, then each worker: what `docker node ls` lists once every machine is back.
SWARM = ["hub Ready", "workers-0 Ready", "workers-1 Ready"]


@pytest.fixture(scope="module")
def students(camp) -> list[str]:
    """This module's own students, new in every run."""
    run = secrets.token_hex(3)
    emails = [f"{name}.{run}@camp.example.org" for name in ("hedy", "radia")]
    camp.add_to_class_list(*emails)
    camp.up()
    return emails


def start_working(camp, students: list[str], ca_file) -> dict[str, str]:
    """Starts each student's server and writes a file in their home through it; returns what
    each wrote."""
    written = {}
    for email in students:
        content = f"{email} wrote this at {time.time()}"
        with camp.as_student(email, ca_file) as client:
            client.start_server_and_wait_until_it_answers(email)
            file = {"type": "file", "format": "text", "content": content}
            client.server_api(email, "PUT", f"/contents/{KEPT_FILE}", json=file).raise_for_status()
        written[email] = content
    return written


def every_student_signs_in_finds_their_file_and_runs_a_cell(camp, written: dict[str, str]):
    hub_url = camp.outputs["hubUrl"].rstrip("/")
    with sync_playwright() as playwright:
        browser = student_browser.launch_chromium(playwright)
        try:
            for email, content in written.items():
                context = browser.new_context(ignore_https_errors=True)
                page, callback = student_browser.sign_in(context, hub_url, email)
                assert callback.status < 400, f"{email} refused at the callback: {callback.status}"
                student_browser.wait_for_jupyterlab(page, hub_url, email)
                printed = student_browser.run_first_cell(page, f"print(open('{KEPT_FILE}').read())")
                assert printed.strip() == content, email
                context.close()
        finally:
            browser.close()


def instance_id(camp, machine: str) -> str:
    (record,) = [r for r in camp.records() if r.name == machine]
    return record.id


def swarm(camp) -> list[str]:
    """Every node the manager lists, old ones too (a replaced worker's keeps its hostname)."""
    listing = camp.run("sudo docker node ls --format '{{.Hostname}} {{.Status}}'")
    return sorted(listing.splitlines())


def served_certificate(camp) -> str:
    hub = urlsplit(camp.outputs["hubUrl"])
    return ssl.get_server_certificate((hub.hostname, hub.port or layout.HTTPS_PORT))


def test_a_replaced_worker_rejoins_and_its_students_work_on(camp, students, ca_file):
    written = start_working(camp, students, ca_file)
    victim = camp.server_node(students[0])
    replaced = instance_id(camp, victim)

    camp.up(replace=(victim,))

    assert instance_id(camp, victim) != replaced
    # The new node joined and the old one was drained and removed by the hub.
    wait_for(lambda: swarm(camp) == SWARM, timeout=120, what="the swarm whole again", interval=3)
    every_student_signs_in_finds_their_file_and_runs_a_cell(camp, written)


def test_a_replaced_nfs_server_serves_the_same_homes_to_every_machine(camp, students, ca_file):
    written = start_working(camp, students, ca_file)
    replaced = instance_id(camp, "nfs")

    camp.up(replace=("nfs",))

    assert instance_id(camp, "nfs") != replaced
    exported = f"{camp.outputs['nfsPrivateIp']}:{layout.NFS_EXPORT_DIR}"
    for host in (None, *camp.outputs["workerPrivateIps"]):  # the hub, then every worker
        # What the machine mounts at boot, and that it is mounted now (the local cloud's NFS
        # plays the mount with the server's volume itself, so that is the live mount's source).
        entry = f"findmnt --fstab --noheadings --output SOURCE {layout.HOMES_MOUNT_DIR}"
        assert camp.run(entry, host).strip() == exported, host or "hub"
        assert camp.run(f"findmnt --noheadings {layout.HOMES_MOUNT_DIR}", host), host or "hub"
    every_student_signs_in_finds_their_file_and_runs_a_cell(camp, written)


def test_a_replaced_hub_keeps_its_certificate_and_its_students_work_on(camp, students, ca_file):
    certificate = served_certificate(camp)
    certificate_file = camp.run(f"sudo sha256sum {SELF_SIGNED_CERTIFICATE}")
    written = start_working(camp, students, ca_file)
    replaced = instance_id(camp, "hub")

    camp.up(replace=("hub",))

    assert instance_id(camp, "hub") != replaced
    assert served_certificate(camp) == certificate
    assert camp.run(f"sudo sha256sum {SELF_SIGNED_CERTIFICATE}") == certificate_file
    letsencrypt = camp.run(f"readlink {layout.LETSENCRYPT_DIR}").strip()
    assert letsencrypt == f"{layout.HUB_VOLUME_DIR}/letsencrypt"
    # A new swarm, which both workers left the old one to join.
    wait_for(lambda: swarm(camp) == SWARM, timeout=120, what="the new swarm whole", interval=3)
    assert set(students) <= camp.usernames()
    every_student_signs_in_finds_their_file_and_runs_a_cell(camp, written)
