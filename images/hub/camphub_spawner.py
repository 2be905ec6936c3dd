"""camphub's spawner: SwarmSpawner that limits each server's processes, follows the swarm's view of
each server, and routes to its task.

- Process limit: swarm takes a task's process limit (Resources.Limits.Pids, Docker API 1.41) but
  neither SwarmSpawner nor docker-py's Resources has a parameter for it, so it is added to the
  service spec on its way to Docker. Without it one student's fork bomb would take every process
  slot of the worker their server runs on, and with them the other students' servers.
- One truth about servers: the swarm's. A server runs while its service has a task the swarm still
  means to run (desired state running, or ready while a restarted task waits out its restart
  delay) that has not ended: new, allocated, pending, assigned, accepted, preparing, ready,
  starting or running. The swarm starts a server's task again after a crash, a stall or a lost
  worker (Docker's default restart policy), and a task between those states is a server being
  restarted: SwarmSpawner calls it stopped, and the hub would revoke the token the restarted
  server goes on using (403s) and forget a service the swarm keeps. A server is stopped only when
  its service is gone or none of its tasks can run any more, and poll() removes such a service
  before it says so (JupyterHub calls stop() only for a server poll() says runs), so no service
  outlives the hub's record of its server. When the swarm cannot be asked (an error or a timeout
  from the manager), poll() says running and the hub asks again at its next poll.
- No room, said at once: the swarm's scheduler is the one judge of which ready worker has the
  memory and CPU reservations for one more server; it marks a task it cannot place `pending`
  with Err "no suitable node (insufficient resources on 2 nodes)" (or no worker ready, or none
  that fits the constraints) within a second of its creation. start() watches the new task every
  `task_poll_seconds`; when it is still unplaceable after `unplaceable_grace_seconds` (the
  reservations of servers that are stopping come free within seconds), the service is removed,
  the hub logs one line with "unplaceable", the student and the swarm's reason, and the student
  reads NO_ROOM_MESSAGE instead of waiting out start_timeout. The hub's server limits
  (active_server_limit, concurrent_spawn_limit) stay at the planned pool's size, a ceiling; what
  the workers the swarm reports ready can hold is decided by the scheduler, per start, and never
  guessed by a second count in the hub that would race with it. A task that fails
  `start_attempts` times while its server starts (a crash at start) ends the start with the
  swarm's error; the swarm's own retries cover a failure that does not repeat.
- Routing: SwarmSpawner routes to the service's DNS name. Right after a stop and start that name
  can still resolve to the old task's address, so the hub would call a server ready that is not
  and the student would get a 503. The running task's own address on the overlay is always the
  server that just started.
- Following a moved server: the swarm starts a server's task again by itself when the worker's
  Docker restarts, when the worker is lost or drained, and the new task has a new address. Docker
  emits no event when a task moves (its event stream has service and node events, and a task
  restart changes neither), so one watcher for the whole hub lists the running tasks of every
  service every `route_poll_seconds` (one API call, whatever the class size) and routes each
  ready server whose running task has a new address there. A hub that restarts asks get_url()
  for the address before it checks the server; for a server the swarm is starting again,
  get_url() waits for its new task rather than hand back an address that never answers.
- A whole class at once (bench/RESULTS.md): DockerSpawner sends every Docker API call of every
  server through one thread, so at 9:00 each student's create and status calls queue behind the
  whole class's; here they run `docker_threads` at a time. And the hub calls a server ready only
  once it answers, polling it with a backoff that grows to 5 s, which adds up to 5 s to a start
  that takes long because the class starts together; start() returns once the server's port
  accepts connections, checked every `listen_poll_seconds`, so the hub's first check succeeds.

- Long emails: a server's service is named "jupyter-<escaped email>", and Docker refuses a service
  name over 63 characters (the overlay's DNS resolves it: one label). A name that would be longer
  keeps its start and ends in "--" and a hash of the email: the same at every start and hub
  restart, never another student's ("--" is in no escaped name: the escape character "-" is
  always followed by two hex digits), and the student's home keeps the full escaped name.

The decisions (which task states mean what, what makes a task unplaceable, which address a
server has) are the functions at the top, over the task JSON the Docker API returns.
"""

import asyncio
import contextlib
import enum
import hashlib
import re
import weakref
from concurrent.futures import ThreadPoolExecutor
from typing import ClassVar

import requests
from docker.errors import APIError, NotFound
from dockerspawner import SwarmSpawner
from jupyterhub.spawner import SpawnException
from sqlalchemy.orm import object_session
from traitlets import Float, Integer, default

# Docker's longest service name: a DNS label.
SERVICE_NAME_LIMIT = 63
# Hex digits of the email's SHA-256 that end a shortened name: 64 bits, no two students alike.
SHORTENED_NAME_HASH_DIGITS = 16


def service_name_within_limit(name: str, username: str) -> str:
    """`name` if Docker takes it, else its start, "--" and a hash of `username`."""
    if len(name) <= SERVICE_NAME_LIMIT:
        return name
    digest = hashlib.sha256(username.encode()).hexdigest()[:SHORTENED_NAME_HASH_DIGITS]
    start = name[: SERVICE_NAME_LIMIT - len(digest) - 2]
    # Not half an escape ("-2" of "-2e"): the start reads as the name's own characters.
    start = re.sub(r"-[0-9a-f]?$", "", start)
    return f"{start}--{digest}"


# A task in one of these states (swarmkit's TaskState, as the Docker API writes them) is on its
# way to running or runs; every later state (complete, shutdown, failed, rejected, remove,
# orphaned) is an end.
STATES_UP_TO_RUNNING = frozenset(
    {
        "new",
        "allocated",
        "pending",
        "assigned",
        "accepted",
        "preparing",
        "ready",
        "starting",
        "running",
    }
)
# A task the swarm means to run: running, or ready while a restarted task waits out its restart
# delay (measured: State ready, Message "prepared", DesiredState ready).
DESIRED_TO_RUN = frozenset({"running", "ready"})
# Ends of a task that count as a failed start.
FAILED_STATES = frozenset({"failed", "rejected"})
# The scheduler's Err on a pending task that no node can take, followed by why per node:
# "no suitable node (insufficient resources on 2 nodes)".
UNPLACEABLE_ERR_PREFIX = "no suitable node"

NO_ROOM_MESSAGE = (
    "There is no room for your server on the camp's workers right now. "
    "Please try again in a few minutes, and tell your teacher if this keeps happening."
)


class Start(enum.Enum):
    """Where a new server's start stands, by its service's tasks."""

    WAITING = "waiting"
    RUNNING = "running"
    UNPLACEABLE = "unplaceable"
    FAILED = "failed"


def can_still_run(task: dict) -> bool:
    """Whether the swarm still means to run this task and it has not ended."""
    desired, state = task["DesiredState"], task["Status"]["State"]
    return desired in DESIRED_TO_RUN and state in STATES_UP_TO_RUNNING


def is_running(task: dict) -> bool:
    return task["DesiredState"] == "running" and task["Status"]["State"] == "running"


def unplaceable_reason(task: dict) -> str | None:
    """The scheduler's reason when it found no node for this task, else None."""
    status = task["Status"]
    err = status.get("Err", "")
    if status["State"] == "pending" and err.startswith(UNPLACEABLE_ERR_PREFIX):
        return err
    return None


def server_stopped(tasks: list[dict]) -> bool:
    """Whether a service's server has stopped: it has tasks and none of them can run any more.

    A service with no task yet is one the swarm is about to give its first task."""
    return bool(tasks) and not any(can_still_run(task) for task in tasks)


def newest(tasks: list[dict]) -> dict:
    # The swarm's store index grows with every change; timestamps lose trailing zeros and so do
    # not sort as text.
    return max(tasks, key=lambda task: task["Version"]["Index"])


def describe(task: dict) -> str:
    """The task's state and the swarm's error, for logs and messages: "failed: task: non-zero
    exit (3)"."""
    status = task["Status"]
    return ": ".join(part for part in (status["State"], status.get("Err", "")) if part)


def start_progress(tasks: list[dict], start_attempts: int) -> tuple[Start, str]:
    """Where a start stands, with the swarm's reason when it is unplaceable or failed."""
    if any(is_running(task) for task in tasks):
        return Start.RUNNING, ""
    failures = [task for task in tasks if task["Status"]["State"] in FAILED_STATES]
    if len(failures) >= start_attempts:
        return Start.FAILED, describe(newest(failures))
    live = [task for task in tasks if can_still_run(task)]
    reasons = [unplaceable_reason(task) for task in live]
    if reasons and all(reasons):
        return Start.UNPLACEABLE, reasons[0]
    return Start.WAITING, ""


def task_address(task: dict, network: str) -> str | None:
    """The task's address on the named network, without its prefix length."""
    for attachment in task.get("NetworksAttachments") or []:
        if attachment["Network"]["Spec"]["Name"] == network and attachment["Addresses"]:
            return attachment["Addresses"][0].split("/")[0]
    return None


def running_address(tasks: list[dict], network: str) -> str | None:
    """The address on the network of the newest running task among these; None while none runs."""
    running = [task for task in tasks if is_running(task) and task_address(task, network)]
    return task_address(newest(running), network) if running else None


def running_addresses(tasks: list[dict], network: str) -> dict[str, str]:
    """{service ID: address of its newest running task}, for the tasks of many services."""
    by_service = {}
    for task in tasks:
        by_service.setdefault(task["ServiceID"], []).append(task)
    addresses = {service: running_address(group, network) for service, group in by_service.items()}
    return {service: address for service, address in addresses.items() if address}


class NoRoomOnWorkers(SpawnException):
    """A start the swarm cannot place: the student reads NO_ROOM_MESSAGE (JupyterHub shows a
    spawn error's `jupyterhub_message` on the progress and not-running pages), the log the reason.
    A SpawnException, so it counts as a refused start, not as an error of the hub."""

    jupyterhub_message = NO_ROOM_MESSAGE

    def __init__(self, student: str, reason: str):
        super().__init__(
            NO_ROOM_MESSAGE,
            reason="unplaceable",
            log_message=f"unplaceable: no room for {student}'s server ({reason})",
            status_code=503,
        )


# The Docker API's errors and the socket's: the swarm could not be asked.
DOCKER_ERRORS = (APIError, requests.exceptions.RequestException)


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
    task_poll_seconds = Float(
        1.0, help="How often start() asks the swarm how the new server's task stands."
    ).tag(config=True)
    unplaceable_grace_seconds = Float(
        10.0, help="How long a new server's task may stay unplaceable before the start fails."
    ).tag(config=True)
    start_attempts = Integer(
        3, help="Failed tasks after which a start gives up instead of waiting for the swarm's."
    ).tag(config=True)
    route_poll_seconds = Float(
        2.0, help="How often the hub looks for servers the swarm moved, for all of them at once."
    ).tag(config=True)

    # The spawners of servers that may move, and the one watcher that follows them.
    _watched: ClassVar[weakref.WeakSet] = weakref.WeakSet()
    _route_watcher: ClassVar[asyncio.Task | None] = None

    @property
    def executor(self):
        # One pool for the whole class, like DockerSpawner's own (a class attribute).
        cls = self.__class__
        if cls._executor is None:
            cls._executor = ThreadPoolExecutor(self.docker_threads)
        return cls._executor

    @default("object_name")
    def _object_name_default(self):
        return service_name_within_limit(super()._object_name_default(), self.user.name)

    @default("client_kwargs")
    def _default_client_kwargs(self):
        # As many connections to the Docker socket as calls in flight.
        return {"max_pool_size": self.docker_threads}

    async def start(self):
        ip, port = await super().start()
        self.watch_route()
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

    async def service_tasks(self):
        """Every task of the service, past ones included; None when the service is gone."""
        try:
            return await self.docker("tasks", filters={"service": self.service_name})
        except NotFound:
            return None

    async def start_object(self):
        """Waits until the new service's task runs; fails at once when the swarm cannot place it
        or the task keeps failing. The hub's start_timeout bounds the rest."""
        loop = asyncio.get_running_loop()
        unplaceable_since = None
        while True:
            tasks = await self.service_tasks()
            if tasks is None:
                raise RuntimeError(f"Service {self.service_name} was removed while starting")
            progress, reason = start_progress(tasks, self.start_attempts)
            if progress is Start.RUNNING:
                return
            if progress is Start.FAILED:
                await self.remove_object()
                raise RuntimeError(f"{self._log_name}'s server failed to start: {reason}")
            if progress is Start.UNPLACEABLE:
                unplaceable_since = unplaceable_since or loop.time()
                if loop.time() - unplaceable_since >= self.unplaceable_grace_seconds:
                    await self.refuse_unplaceable(reason)
            else:
                unplaceable_since = None
            await asyncio.sleep(self.task_poll_seconds)

    async def refuse_unplaceable(self, reason):
        await self.remove_object()
        # The line the runbook points to.
        self.log.warning(
            "unplaceable: no room for %s's server on the workers (%s); service %s removed",
            self.user.name,
            reason,
            self.service_name,
        )
        raise NoRoomOnWorkers(self.user.name, reason)

    async def remove_object(self):
        """Removes the service; one already gone counts as removed."""
        self.log.info("Removing service %s", self.service_name)
        with contextlib.suppress(NotFound):
            await self.docker("remove_service", self.object_id or self.service_name)

    async def stop(self, now=False):
        self.unwatch_route()
        await super().stop(now=now)

    async def poll(self):
        """None while the swarm runs or (re)starts the server; else its end, the service removed."""
        try:
            tasks = await self.service_tasks()
        except DOCKER_ERRORS as error:
            self.log.warning("The swarm cannot say how %s stands: %s", self._log_name, error)
            return None
        if tasks is None:
            self.unwatch_route()
            self.log.warning("Service %s is gone", self.service_name)
            return 0
        if not server_stopped(tasks):
            self.watch_route()
            return None
        self.unwatch_route()
        return await self.remove_stopped(describe(newest(tasks)))

    async def remove_stopped(self, end):
        """The end of a stopped server, once its service is removed; None while it cannot be."""
        try:
            await self.remove_object()
        except DOCKER_ERRORS as error:
            self.log.warning(
                "%s stopped (%s) but its service stays for now: %s", self._log_name, end, error
            )
            return None
        self.log.warning("%s stopped (%s); its service is removed", self._log_name, end)
        return end

    async def running_task_address(self):
        """The overlay address of the service's newest running task; None while none runs."""
        return running_address(await self.service_tasks() or [], self.network_name)

    async def get_ip_and_port(self):
        address = await self.running_task_address()
        if address is None:
            self.log.warning(
                "No running task of %s on %s yet", self.service_name, self.network_name
            )
            return await super().get_ip_and_port()
        return address, self.port

    async def get_url(self):
        # Asked by a restarting hub for each server it finds running: it routes to this, then
        # checks the server there. A server the swarm is starting again (its worker restarted)
        # has no running task yet, and its old address never answers: the hub would check that
        # for http_timeout and, with init_spawners_timeout -1, answer no one meanwhile.
        address = await self.until_a_task_runs()
        if address is None or self.server is None:
            return await super().get_url()
        return self.server.url.replace(f"//{self.server.ip}:", f"//{address}:", 1)

    async def until_a_task_runs(self):
        """The running task's address, once the swarm has (re)started it; None when the server
        stopped, the swarm cannot be asked, or http_timeout passed first."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.http_timeout
        while True:
            try:
                tasks = await self.service_tasks()
            except DOCKER_ERRORS:
                return None
            address = running_address(tasks or [], self.network_name)
            if address or tasks is None or server_stopped(tasks) or loop.time() >= deadline:
                return address
            await asyncio.sleep(self.task_poll_seconds)

    def watch_route(self):
        """Follow this server when the swarm moves it; starts the hub's one watcher if needed."""
        cls = self.__class__
        cls._watched.add(self)
        if cls._route_watcher is None or cls._route_watcher.done():
            cls._route_watcher = asyncio.get_running_loop().create_task(cls.follow_moved_servers())

    def unwatch_route(self):
        self.__class__._watched.discard(self)

    @classmethod
    async def follow_moved_servers(cls):
        """Routes every ready server to its running task, for as long as any server is watched."""
        while cls._watched:
            some_spawner = next(iter(cls._watched))
            await asyncio.sleep(some_spawner.route_poll_seconds)
            try:
                tasks = await some_spawner.docker("tasks", filters={"desired-state": "running"})
            except DOCKER_ERRORS as error:
                some_spawner.log.warning("Cannot look for moved servers: %s", error)
                continue
            addresses = running_addresses(tasks, some_spawner.network_name)
            for spawner in list(cls._watched):
                await spawner.follow(addresses.get(spawner.object_id))

    async def follow(self, address):
        """Routes the server to `address` when it is ready and the swarm moved it there."""
        # Not while starting, stopping or being checked by a restarting hub: only a server the
        # hub calls ready has a route to follow.
        if address is None or not self.ready or address == self.server.ip:
            return
        self.log.warning(
            "The swarm moved %s from %s to %s; routing there",
            self._log_name,
            self.server.ip,
            address,
        )
        moved_from, self.server.ip = self.server.ip, address
        try:
            # The hub's own session (Spawner.db, deprecated as a spawner's way to reach it).
            object_session(self.orm_spawner).commit()
            await self.user.settings["proxy"].add_user(self.user, self.name)
        except Exception:
            # The watcher goes on for the other servers; this one is tried again at the next look.
            self.server.ip = moved_from
            self.log.exception("Routing %s to %s failed", self._log_name, address)
