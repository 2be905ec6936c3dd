"""Helpers shared by the end-to-end tests on the local cloud."""

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from jupyter_api import HubClient, user_path
from waiting import wait_for

from infra import layout
from infra.payload import NOTEBOOK_IMAGE, image_tag
from infra.userlist import escaped_username as escaped  # the tests' name for it
from rehearsal import ssh
from rehearsal.camp import (
    NAMESPACE,
    SECRET_KEYS,
    let_hub_reach_google,
    machine_connection,
    prebuilt_images,
    program_config,
)
from rehearsal.commands import COMMAND
from rehearsal.ec2_instances import INSTANCE
from rehearsal.run import phase
from rehearsal.state import State

SPAWN_SECONDS = 600


class Camp:
    """A rehearsed camphub deployment, as its organizer reaches it: SSH to the hub with the
    admin key from the stack outputs, the other machines through the hub."""

    def __init__(self, rehearsal, userlist: Path, materials_dir: Path):
        self.rehearsal = rehearsal
        self.userlist = userlist
        self.materials_dir = materials_dir
        # Object settings set for good ({"nfs": {"adoptHomesVolume": ...}}): in every later `up`.
        self.configured: dict[str, dict] = {}

    def up(
        self,
        workers: int = 2,
        notebook: dict | None = None,
        settings: dict | None = None,
        replace: tuple[str, ...] = (),
    ) -> dict:
        """Deploys the camp; `notebook` overrides the stack's notebook settings for this run
        (e.g. {"internet": False}), as `pulumi config set --path camphub:notebook.<key>` would,
        and `settings` any object setting's members (e.g. {"workers": {"instanceType": ...}}),
        over what `configure` set, or a plain setting's value (e.g. {"domain": ...}), for this
        run only; `replace` names resources to make anew, as
        `pulumi up --replace` (a machine: "hub")."""
        config = program_config(self.rehearsal, workers=workers, userlist=self.userlist)
        config[f"{NAMESPACE}:materialsDir"] = str(self.materials_dir)
        for changes in (self.configured, {"notebook": notebook, **(settings or {})}):
            for name, members in changes.items():
                key = f"{NAMESPACE}:{name}"
                if isinstance(members, dict) and members:
                    config[key] = json.dumps(json.loads(config.get(key, "{}")) | members)
                elif isinstance(members, str | bool | int):
                    config[key] = members if isinstance(members, str) else json.dumps(members)
        with phase("hub, proxy and notebook images, built here", self.rehearsal.timings):
            images = prebuilt_images()
        outputs = self.rehearsal.up(config, SECRET_KEYS, images, replace=replace)
        let_hub_reach_google(self.rehearsal, outputs)
        return {name: output["value"] for name, output in outputs.items()}

    def configure(self, name: str, members: dict) -> None:
        """Sets an object setting's members for every later `up`, as `pulumi config set --path
        camphub:<name>.<member>` stores them in the stack."""
        self.configured[name] = self.configured.get(name, {}) | members

    def destroy(self) -> None:
        """`pulumi destroy`: the homes archived, every machine gone; what Pulumi keeps (the
        homes volume, the archive bucket) stays, so a later `up` may bring the camp back."""
        self.rehearsal.destroy()

    def add_to_class_list(self, *emails: str) -> None:
        """Appends the students not on the class list yet; the next `up` signs them up."""
        listed = self.userlist.read_text().split()
        with self.userlist.open("a") as userlist:
            userlist.writelines(f"{email}\n" for email in emails if email not in listed)

    @property
    def outputs(self) -> dict:
        return {name: output["value"] for name, output in self.rehearsal.outputs().items()}

    def run(self, command: str, host: str | None = None, stdin: str | None = None) -> str:
        """Runs `command` on the hub (or on `host`, through the hub); fails if it fails."""
        result = ssh.run(machine_connection(self.outputs, host), command, stdin)
        assert result.exit_status == 0, f"`{command}` exited {result.exit_status}: {result.stderr}"
        return result.stdout

    def hub_api(self, path: str, method: str = "GET") -> object:
        """The hub's REST API as the class-list sync service sees it. The token is read on the
        hub and handed to curl on stdin, never on a command line."""
        token_file = f"{layout.SECRETS_DIR}/userlist_sync_token"
        url = f"http://127.0.0.1:{layout.HUB_PORT}/hub/api{path}"
        command = (
            f'sudo sh -c \'printf "Authorization: token %s\\n" "$(cat {token_file})"'
            f' | curl -s -w "\\n%{{http_code}}" -X {method} -H @- {url}\''
        )
        body, _, status = self.run(command).rpartition("\n")
        assert int(status) < 400, f"{method} {path}: HTTP {status} {body}"
        return json.loads(body) if body else None

    def hub_certificate(self, ca_file: Path) -> Path:
        """Saves the certificate nginx serves at hubUrl (self-signed on the dev stack) in
        `ca_file`, read on the hub over SSH: clients here then check the hub they talk to."""
        served = self.run(
            f"openssl s_client -connect 127.0.0.1:{layout.HTTPS_PORT} </dev/null 2>/dev/null"
            " | openssl x509"
        )
        ca_file.write_text(served)
        return ca_file

    @contextmanager
    def as_student(self, user: str, ca_file: Path) -> Iterator[HubClient]:
        """`user` reaching the hub as their browser does, through nginx at hubUrl, with an API
        token the admin API makes for them (revoked afterwards) in place of a sign-in."""
        made = self.hub_api(f"/users/{user_path(user)}/tokens", method="POST")
        try:
            yield HubClient(self.outputs["hubUrl"].rstrip("/"), ca_file, made["token"])
        finally:
            self.hub_api(f"/users/{user_path(user)}/tokens/{made['id']}", method="DELETE")

    def usernames(self) -> set[str]:
        return {user["name"] for user in self.hub_api("/users")}

    def hub_container_started_at(self) -> str:
        return self.container_started_at(layout.HUB_CONTAINER)

    def container_started_at(self, container: str) -> str:
        """When `container` on the hub machine last started."""
        template = "{{.State.StartedAt}}"
        return self.run(f"sudo docker inspect --format '{template}' {container}")

    def swarm_nodes(self) -> dict[str, str]:
        """Each swarm node's hostname and status (Ready, Down), as the manager sees them."""
        listing = self.run("sudo docker node ls --format '{{.Hostname}} {{.Status}}'")
        return dict(line.split() for line in listing.splitlines())

    def wait_until_node_is(self, node: str, status: str, timeout: int) -> None:
        """Returns once the manager reports swarm node `node` as `status` (Ready, Down)."""
        wait_for(
            lambda: self.swarm_nodes().get(node) == status,
            timeout=timeout,
            what=f"swarm node {node} {status}",
            interval=1,
        )

    def worker_names(self) -> set[str]:
        return {name for name in self.swarm_nodes() if name.startswith("workers-")}

    def records(self, type_: str = INSTANCE) -> list:
        """What the rehearsal created of `type_`, from its state file."""
        state = State(self.rehearsal.work_dir / "state.json")
        return [r for r in state.records() if r.type == type_]

    def step(self, name: str):
        """The bootstrap step (pulumi-command resource) called `name`, as last recorded."""
        (record,) = [r for r in self.records(COMMAND) if r.name == name]
        return record

    def step_log(self, name: str) -> Path:
        """The log of the last run of bootstrap step `name`: written each time the step runs."""
        return self.rehearsal.work_dir / "logs" / f"{name}.log"

    def image_id(self, tag: str, host: str | None = None) -> str:
        """The ID of image `tag` on `host` (the hub by default); empty when it has none."""
        return self.run(
            f"sudo docker image inspect --format '{{{{.Id}}}}' {tag} 2>/dev/null || true", host=host
        )

    def notebook_image_ids(self) -> dict[str, str]:
        """{machine: the ID of the notebook image of this tree} on the hub and every worker."""
        tag = image_tag(NOTEBOOK_IMAGE)
        workers = self.outputs["workerPrivateIps"]
        return {
            "hub": self.image_id(tag),
            **{f"workers-{i}": self.image_id(tag, host) for i, host in enumerate(workers)},
        }

    def start_server(self, user: str) -> str:
        """Starts `user`'s server through the API; returns the worker its container runs on."""
        server = self.hub_api(f"/users/{user}")["servers"].get("", {})
        # A restarted hub checks the servers it knew first ("pending": "check").
        if not (server.get("ready") or server.get("pending") in ("spawn", "check")):
            self.hub_api(f"/users/{user}/server", method="POST")

        def ready() -> bool:
            return bool(self.hub_api(f"/users/{user}")["servers"].get("", {}).get("ready"))

        wait_for(ready, timeout=SPAWN_SECONDS, what=f"{user}'s server is ready", interval=3)
        return self.server_node(user)

    def running_task(self, user: str) -> tuple[str, str]:
        """The worker and the task id of `user`'s running server; ("", "") when none runs."""
        service = f"jupyter-{escaped(user)}"
        template = "{{.Node}} {{.ID}}"
        listing = self.run(
            f"sudo docker service ps --no-trunc --filter desired-state=running"
            f" --format '{template}' {service} 2>/dev/null || true"  # no service: no server
        )
        return tuple(listing.split()) if listing else ("", "")

    def server_node(self, user: str) -> str:
        return self.running_task(user)[0]

    def in_server(self, user: str, command: str, stdin: str | None = None) -> str:
        """Runs `command` in `user`'s notebook container, as them, on the worker that runs it."""
        worker, task = self.running_task(user)
        address = self.outputs["workerPrivateIps"][int(worker.rsplit("-", 1)[1])]
        container = f"$(sudo docker ps -q --filter label=com.docker.swarm.task.id={task})"
        return self.run(f"sudo docker exec -i {container} {command}", host=address, stdin=stdin)


def in_kernel(client, owner: str, code: str) -> object:
    """Runs `code`, which leaves its answer in `answer`, in a fresh kernel of `owner`'s server
    (started first if need be) through the hub, as `client`; returns the answer."""
    client.start_server_and_wait_until_it_answers(owner)
    printed = client.run_code(owner, f"{code}\nimport json; print(json.dumps(answer))")
    return json.loads(printed.strip().splitlines()[-1])


def signed_in(student: str):
    """A module's fixture: a client of `student`, signed in once the module's own `enrolled`
    fixture has put them on the class list, for the whole module. Named by the module's
    attribute it is assigned to: `classmate = signed_in(CLASSMATE)`."""

    @pytest.fixture(scope="module")
    def client(camp, enrolled, ca_file):
        with camp.as_student(student, ca_file) as client:
            yield client

    return client
