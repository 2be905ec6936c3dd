"""Helpers shared by the end-to-end tests on the local cloud."""

import json
import time
from collections.abc import Callable
from pathlib import Path

from infra import layout
from rehearsal import ssh
from rehearsal.camp import SECRET_KEYS, prebuilt_images, program_config
from rehearsal.run import phase


def wait_until(condition: Callable[[], object], what: str, timeout: float, pause: float = 1.0):
    """Polls `condition` until it returns something truthy; fails naming `what` after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting until {what}")
        time.sleep(pause)


class Camp:
    """A rehearsed camphub deployment, as its organizer reaches it: SSH to the hub with the
    admin key from the stack outputs, the other machines through the hub."""

    def __init__(self, rehearsal, userlist: Path):
        self.rehearsal = rehearsal
        self.userlist = userlist

    def up(self, workers: int = 2) -> dict:
        config = program_config(self.rehearsal, workers=workers, userlist=self.userlist)
        with phase("hub and notebook images, built here", self.rehearsal.timings):
            images = prebuilt_images()
        outputs = self.rehearsal.up(config, SECRET_KEYS, images)
        return {name: output["value"] for name, output in outputs.items()}

    @property
    def outputs(self) -> dict:
        return {name: output["value"] for name, output in self.rehearsal.outputs().items()}

    def _connection(self, host: str | None = None) -> ssh.Connection:
        outputs = self.outputs
        hub = ssh.Connection(outputs["hubPublicIp"], "admin", outputs["adminSshKey"])
        if host is None:
            return hub
        return ssh.Connection(host, "admin", outputs["adminSshKey"], proxy=hub)

    def run(self, command: str, host: str | None = None, stdin: str | None = None) -> str:
        """Runs `command` on the hub (or on `host`, through the hub); fails if it fails."""
        result = ssh.run(self._connection(host), command, stdin)
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

    def usernames(self) -> set[str]:
        return {user["name"] for user in self.hub_api("/users")}

    def hub_container_started_at(self) -> str:
        template = "{{.State.StartedAt}}"
        return self.run(f"sudo docker inspect --format '{template}' {layout.HUB_CONTAINER}")

    def swarm_nodes(self) -> dict[str, str]:
        """Each swarm node's hostname and status (Ready, Down), as the manager sees them."""
        listing = self.run("sudo docker node ls --format '{{.Hostname}} {{.Status}}'")
        return dict(line.split() for line in listing.splitlines())
