"""`rehearse`: camphub's real program on the local cloud, for a newcomer without an AWS account.

    bin/rehearse up [--stack dev] [--workers N] [--build-on-hub] [--replace NAME]...
                                                 deploy, or update what changed; with
                                                 --replace, make that resource anew (a
                                                 name, type::name or URN) and rerun what
                                                 depends on it, as `pulumi up --replace`
    bin/rehearse status [--stack dev]            the machines, their state, the Google and
                                                 Let's Encrypt stand-ins
    bin/rehearse down [--stack dev] [--keep-going]  delete steps, then everything it made
    bin/rehearse substitutions                   what differs from AWS, and why

The stack's configuration comes from Pulumi.<stack>.yaml with the changes in
rehearsal/stacks.yaml (the sample class list, the worker count, a generated OAuth secret); sign-in
goes to the rehearsal's Google stand-in, which `up` starts (or reuses) and `down` stops.
"""

import argparse
import os
import sys
import time
from typing import Any

from infra.outputs import HUB_ALIAS
from rehearsal import acme_pebble_files, acme_stand_in, google_stand_in
from rehearsal.camp import (
    SECRET_KEYS,
    class_list,
    let_hub_reach_google,
    prebuilt_images,
    program_config,
)
from rehearsal.run import PROJECT_DIR, Rehearsal, RehearsalError, phase
from rehearsal.substitutions import SUBSTITUTIONS


def up(rehearsal: Rehearsal, workers: int | None, prebuilt: bool, replace: list[str]) -> None:
    began = time.monotonic()
    images = ()
    if prebuilt:
        with phase("hub, proxy and notebook images, built here", rehearsal.timings):
            images = prebuilt_images()
    config = program_config(rehearsal, workers)
    outputs = rehearsal.up(config, SECRET_KEYS, images, replace=replace)
    let_hub_reach_google(rehearsal, outputs)
    print(f"\nrehearsal up in {time.monotonic() - began:.0f}s; phases:")
    for title, seconds in rehearsal.timings.items():
        print(f"  {seconds:7.1f}s  {title}")
    print_sign_in(rehearsal, outputs)


def print_sign_in(rehearsal: Rehearsal, outputs: dict[str, Any]) -> None:
    userlist, students, admins = class_list(rehearsal.stack)
    google = google_stand_in.recorded(rehearsal.work_dir)
    print(f"\nhub: {outputs['hubUrl']['value']}  (self-signed certificate: accept it once)")
    print('  open it: the camp\'s landing page; press "Sign in", then "Sign in with Google":')
    print("  the Google stand-in's page asks for an email; type one from the class list")
    print("  (no password)")
    print(f"  sign in as a student: {', '.join(students)}")
    print(f"  sign in as an admin:  {', '.join(admins)}  (then /hub/admin)")
    print(f"  Google stand-in: {google.base_url} (log: {google.log_path})")
    print(f"  class list: {userlist} (edit it and run `bin/rehearse up` again)")
    key_file, known_hosts = rehearsal.work_dir / "admin.key", rehearsal.work_dir / "known_hosts"
    # The hub's own host key only, as the organizer's camphub.ssh_config requires it.
    print(f"  ssh to the hub: ssh -i {key_file} -o UserKnownHostsFile={known_hosts} "
          f"-o StrictHostKeyChecking=yes -o HostKeyAlias={HUB_ALIAS} "
          f"admin@{outputs['hubPublicIp']['value']}")  # fmt: skip
    fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as file:
        file.write(outputs["adminSshKey"]["value"])
    known_hosts.write_text(outputs["sshKnownHosts"]["value"])


def status(rehearsal: Rehearsal) -> None:
    lines = rehearsal.status()
    if not lines:
        print(f"nothing rehearsed for stack {rehearsal.stack}")
        return
    print("\n".join(lines))
    google = google_stand_in.recorded(rehearsal.work_dir)
    if google is not None:
        state = f"running (pid {google.pid})" if google.answers() else "STOPPED (`up` restarts it)"
        print(f"google   stand-in     {google.base_url:<28} {state}")
    acme = acme_stand_in.recorded(rehearsal.cloud)
    if acme is not None:
        state = f"running, {acme.issued_count()} issued" if acme.answers() else "STOPPED"
        print(f"acme     stand-in     {acme_pebble_files.directory_url():<28} {state}")
    outputs = rehearsal.outputs()
    if "hubUrl" in outputs:
        print(f"\nhub: {outputs['hubUrl']['value']}")


def print_substitutions() -> None:
    for substitution in SUBSTITUTIONS:
        print(f"- {substitution.production}\n  rehearsal: {substitution.rehearsal}\n"
              f"  piece: {substitution.piece}")  # fmt: skip


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="rehearse", description=__doc__.split("\n")[0])
    parser.add_argument("action", choices=["up", "status", "down", "substitutions"])
    parser.add_argument("--stack", default="dev")
    parser.add_argument("--workers", type=int, help="worker count (default: rehearsal/stacks.yaml)")
    parser.add_argument(
        "--build-on-hub",
        action="store_true",
        help="let the hub build the hub, proxy and notebook images, as on AWS (minutes), instead "
        "of building them here first, with this machine's layer cache, and loading them into "
        "the hub; the hub ships the notebook image to the workers either way",
    )
    parser.add_argument(
        "--replace",
        action="append",
        default=[],
        metavar="NAME",
        help="up: make this resource of the last run anew (e.g. hub, workers-0, nfs: the "
        "machine), and everything that depends on it runs again, as `pulumi up --replace`",
    )
    parser.add_argument(
        "--keep-going",
        action="store_true",
        help="down: delete everything even when a delete step (the archive) fails",
    )
    args = parser.parse_args(argv)
    if args.action == "substitutions":
        print_substitutions()
        return 0
    rehearsal = Rehearsal(PROJECT_DIR, args.stack)
    try:
        if args.action == "up":
            up(rehearsal, args.workers, not args.build_on_hub, args.replace)
        elif args.action == "status":
            status(rehearsal)
        else:
            rehearsal.down(keep_going=args.keep_going)
    except RehearsalError as error:
        print(f"rehearse {args.action}: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
