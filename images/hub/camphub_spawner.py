"""camphub's spawner: SwarmSpawner that limits each server's processes and routes to its task.

- Process limit: swarm takes a task's process limit (Resources.Limits.Pids, Docker API 1.41) but
  neither SwarmSpawner nor docker-py's Resources has a parameter for it, so it is added to the
  service spec on its way to Docker. Without it one student's fork bomb would take every process
  slot of the worker their server runs on, and with them the other students' servers.
- Routing: SwarmSpawner routes to the service's DNS name. Right after a stop and start that name
  can still resolve to the old task's address, so the hub would call a server ready that is not
  and the student would get a 503. The running task's own address on the overlay is always the
  server that just started.
"""

from dockerspawner import SwarmSpawner
from traitlets import Integer


class CamphubSwarmSpawner(SwarmSpawner):
    pids_limit = Integer(
        0, help="Most processes and threads in one server's container; 0 for no limit."
    ).tag(config=True)

    def _docker(self, method, *args, **kwargs):
        # Runs in the spawner's thread pool, with the arguments SwarmSpawner.create_object built.
        if method == "create_service" and self.pids_limit:
            resources = kwargs["task_template"].setdefault("Resources", {})
            resources.setdefault("Limits", {})["Pids"] = self.pids_limit
        return super()._docker(method, *args, **kwargs)

    async def get_ip_and_port(self):
        tasks = await self.docker(
            "tasks", filters={"service": self.service_name, "desired-state": "running"}
        )
        running = [t for t in tasks if t["Status"]["State"] == "running"]
        for task in sorted(running, key=lambda t: t["UpdatedAt"], reverse=True):
            for attachment in task.get("NetworksAttachments", []):
                if attachment["Network"]["Spec"]["Name"] == self.network_name:
                    return attachment["Addresses"][0].split("/")[0], self.port
        self.log.warning("No running task of %s on %s yet", self.service_name, self.network_name)
        return await super().get_ip_and_port()
