"""camphub's spawner: SwarmSpawner that limits each server's processes and routes to its task.

- Process limit: swarm takes a task's process limit (Resources.Limits.Pids, Docker API 1.41) but
  neither SwarmSpawner nor docker-py's Resources has a parameter for it, so it is added to the
  service spec on its way to Docker. Without it one student's fork bomb would take every process
  slot of the worker their server runs on, and with them the other students' servers.
- Routing: SwarmSpawner routes to the service's DNS name. Right after a stop and start that name
  can still resolve to the old task's address, so the hub would call a server ready that is not
  and the student would get a 503. The running task's own address on the overlay is always the
  server that just started.
- Following a moved server: the swarm starts a server's task again by itself when the worker's
  Docker restarts, when the worker is lost or drained, and the new task has a new address. The
  hub would keep routing to the old one and the student would get 503s until they restarted.
  Each poll of a ready server routes to the running task's address when it changed, and a hub
  that restarts asks get_url() for it before it checks the server.
- A whole class at once (bench/RESULTS.md): DockerSpawner sends every Docker API call of every
  server through one thread, so at 9:00 each student's create and status calls queue behind the
  whole class's; here they run `docker_threads` at a time. And the hub calls a server ready only
  once it answers, polling it with a backoff that grows to 5 s, which adds up to 5 s to a start
  that takes long because the class starts together; start() returns once the server's port
  accepts connections, checked every `listen_poll_seconds`, so the hub's first check succeeds.
"""

import asyncio
import contextlib
from concurrent.futures import ThreadPoolExecutor

from dockerspawner import SwarmSpawner
from sqlalchemy.orm import object_session
from traitlets import Float, Integer, default


class CamphubSwarmSpawner(SwarmSpawner):
    pids_limit = Integer(
        0, help="Most processes and threads in one server's container; 0 for no limit."
    ).tag(config=True)
    docker_threads = Integer(
        16, help="Docker API calls in flight at once, for all servers together."
    ).tag(config=True)
    listen_poll_seconds = Float(
        0.5, help="How often start() checks whether the new server accepts connections yet."
    ).tag(config=True)

    @property
    def executor(self):
        # One pool for the whole class, like DockerSpawner's own (a class attribute).
        cls = self.__class__
        if cls._executor is None:
            cls._executor = ThreadPoolExecutor(self.docker_threads)
        return cls._executor

    @default("client_kwargs")
    def _default_client_kwargs(self):
        # As many connections to the Docker socket as calls in flight.
        return {"max_pool_size": self.docker_threads}

    async def start(self):
        ip, port = await super().start()
        # Past http_timeout the hub's own check reports the server that never answered.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.until_listening(ip, port), self.http_timeout)
        return ip, port

    async def until_listening(self, ip, port):
        """Returns once ip:port accepts a connection."""
        while True:
            try:
                _, writer = await asyncio.open_connection(ip, port)
            except OSError:
                await asyncio.sleep(self.listen_poll_seconds)
                continue
            writer.close()
            return

    def _docker(self, method, *args, **kwargs):
        # Runs in the spawner's thread pool, with the arguments SwarmSpawner.create_object built.
        if method == "create_service" and self.pids_limit:
            resources = kwargs["task_template"].setdefault("Resources", {})
            resources.setdefault("Limits", {})["Pids"] = self.pids_limit
        return super()._docker(method, *args, **kwargs)

    async def running_task_address(self):
        """The overlay address of the service's newest running task; None while none runs."""
        tasks = await self.docker(
            "tasks", filters={"service": self.service_name, "desired-state": "running"}
        )
        running = [t for t in tasks if t["Status"]["State"] == "running"]
        for task in sorted(running, key=lambda t: t["UpdatedAt"], reverse=True):
            for attachment in task.get("NetworksAttachments", []):
                if attachment["Network"]["Spec"]["Name"] == self.network_name:
                    return attachment["Addresses"][0].split("/")[0]
        return None

    async def get_ip_and_port(self):
        address = await self.running_task_address()
        if address is None:
            self.log.warning(
                "No running task of %s on %s yet", self.service_name, self.network_name
            )
            return await super().get_ip_and_port()
        return address, self.port

    async def get_url(self):
        # Asked by a restarting hub for each server it finds running: it routes to this.
        address = await self.running_task_address()
        if address is None or self.server is None:
            return await super().get_url()
        return self.server.url.replace(f"//{self.server.ip}:", f"//{address}:", 1)

    async def poll(self):
        status = await super().poll()
        # Not while starting, stopping or being checked by a restarting hub: only a server the
        # hub calls ready has a route to follow.
        if status is None and self.ready:
            await self.follow_a_moved_task()
        return status

    async def follow_a_moved_task(self):
        address = await self.running_task_address()
        if address is None or address == self.server.ip:
            return
        self.log.warning(
            "The swarm moved %s from %s to %s; routing there",
            self._log_name,
            self.server.ip,
            address,
        )
        self.server.ip = address
        # The hub's own session (Spawner.db, deprecated as a spawner's way to reach it).
        object_session(self.orm_spawner).commit()
        await self.user.settings["proxy"].add_user(self.user, self.name)
