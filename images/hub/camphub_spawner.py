"""camphub's spawner: SwarmSpawner with a limit on the processes in each student's container.

Swarm takes a task's process limit (Resources.Limits.Pids, Docker API 1.41) but neither
SwarmSpawner nor docker-py's Resources has a parameter for it, so it is added to the service
spec on its way to Docker. Without it one student's fork bomb would take every process slot
of the worker their server runs on, and with them the other students' servers.
"""

from dockerspawner import SwarmSpawner
from traitlets import Integer


class PidsLimitedSwarmSpawner(SwarmSpawner):
    pids_limit = Integer(
        0, help="Most processes and threads in one server's container; 0 for no limit."
    ).tag(config=True)

    def _docker(self, method, *args, **kwargs):
        # Runs in the spawner's thread pool, with the arguments SwarmSpawner.create_object built.
        if method == "create_service" and self.pids_limit:
            resources = kwargs["task_template"].setdefault("Resources", {})
            resources.setdefault("Limits", {})["Pids"] = self.pids_limit
        return super()._docker(method, *args, **kwargs)
