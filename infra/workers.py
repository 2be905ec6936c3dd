"""SwarmWorkerPool: the machines that run the students' servers.

Each worker is reachable only through the hub, mounts the homes, joins the swarm with the join
token (on stdin, never logged) and loads the notebook image the hub built (infra/notebook_image.py)
before it takes students. Removing a
worker first drains its swarm node on the manager (a step the pool declares there, through the
hub's `SwarmManager`), so no student's server dies unannounced.
"""

import shlex
from collections.abc import Sequence
from dataclasses import dataclass

import pulumi

from infra import layout
from infra.homes import HomesShare, mount_homes
from infra.hub import SwarmManager
from infra.machine import (
    JumpHost,
    Machine,
    MachineBasics,
    bring_up_behind,
    declare_machine,
)
from infra.notebook_image import ShippedImage
from infra.remote import Step, StepTarget, run_step, script_line


@dataclass(frozen=True)
class SwarmWorkerPoolArgs:
    basics: MachineBasics
    jump_host: JumpHost
    manager: SwarmManager
    homes: HomesShare
    notebook_image: ShippedImage


@dataclass(frozen=True)
class ServerPool:
    """The pool as JupyterHub sees it: the image the students' servers run, and one step per
    worker after which it takes them (homes mounted, image loaded, swarm joined)."""

    notebook_image: str  # the tag every worker has loaded
    ready: Sequence[pulumi.Resource]


class SwarmWorkerPool(pulumi.ComponentResource):
    private_ips: pulumi.Output[list[str]]
    host_keys: pulumi.Output[list[str]]  # each worker's, in the order of private_ips
    servers: ServerPool  # for JupyterHub, and the archive that runs before the workers go

    def __init__(
        self, name: str, args: SwarmWorkerPoolArgs, opts: pulumi.ResourceOptions | None = None
    ):
        super().__init__("camphub:index:SwarmWorkerPool", name, None, opts)
        self._args = args
        self.instances = []
        self.machines: list[Machine] = []
        ready = [self._add_worker(f"{name}-{i}") for i in range(args.basics.config.workers.count)]
        self.private_ips = pulumi.Output.all(*(i.private_ip for i in self.instances))
        self.host_keys = pulumi.Output.all(*(m.identity.public_host_key for m in self.machines))
        self.servers = ServerPool(notebook_image=args.notebook_image.tag, ready=ready)
        self.register_outputs(
            {
                "privateIps": self.private_ips,
                "hostKeys": self.host_keys,
                "notebookImage": self.servers.notebook_image,
            }
        )

    def _add_worker(self, name: str) -> pulumi.Resource:
        """Declares worker `name`; returns the step after which it takes students."""
        args = self._args
        basics = args.basics
        machine = declare_machine(name, "worker", basics, parent=self)
        instance = machine.instance
        self.instances.append(instance)
        self.machines.append(machine)
        target = bring_up_behind(name, machine, args.jump_host, basics.admin_key, parent=self)
        mounted = mount_homes(target, args.homes, parent=self)
        image = self._load_notebook_image(target)
        internet = self._set_student_internet(target)
        # Join only once the worker can serve a student: swarm places servers on any member.
        joined = self._join_swarm(target, instance, after=[mounted, image, internet])
        return self._track_membership(name, joined)

    def _load_notebook_image(self, machine: StepTarget) -> pulumi.Resource:
        """The hub's build of the image, loaded and checked against its published ID: a new
        build reaches every worker in the same `pulumi up`, an unchanged one runs nothing."""
        image = self._args.notebook_image
        return run_step(
            machine,
            Step(
                "notebook-image",
                script_line(
                    "fetch-image",
                    "--url",
                    image.url,
                    "--tag",
                    image.tag,
                    "--image-id",
                    image.image_id,
                ),
                depends_on=image.published,
            ),
            parent=self,
        )

    def _set_student_internet(self, machine: StepTarget) -> pulumi.Resource:
        """Opens or closes the internet to students' servers (closed: exam mode)."""
        switch = "on" if self._args.basics.config.notebook.internet else "off"
        return run_step(
            machine,
            Step(
                "student-internet",
                shlex.join(["sudo", layout.STUDENT_WALL_COMMAND, "internet", switch]),
            ),
            parent=self,
        )

    def _join_swarm(
        self, machine: StepTarget, instance, after: list[pulumi.Resource]
    ) -> pulumi.Resource:
        manager = self._args.manager
        return run_step(
            machine,
            Step(
                "swarm-join",
                script_line(
                    "swarm-join",
                    "--manager",
                    manager.address,
                    "--manager-port",
                    str(layout.SWARM_MANAGER_PORT),
                    "--advertise-addr",
                    instance.private_ip,
                ),
                stdin=manager.join_token,
                depends_on=[manager.initialised, *after],
            ),
            parent=self,
        )

    def _track_membership(self, name: str, joined) -> pulumi.Resource:
        """A step on the swarm manager that confirms the node joined; its delete drains and
        removes the node before the worker's instance goes away (Pulumi deletes dependents
        first). A new node (a new instance of the worker, or the worker joining a new hub's
        swarm) replaces the step, so the old step's delete removes the old node, never the new."""
        node_id = joined.stdout.apply(lambda out: (out or "").strip())
        return run_step(
            self._args.manager.machine,
            Step(
                f"{name}-membership",
                pulumi.Output.format(
                    "sudo docker node inspect --format '{{{{.Status.State}}}}' {0}", node_id
                ),
                delete=script_line("swarm-remove-node", "--node-id", node_id),
                triggers=[node_id],
                depends_on=[joined],
            ),
            parent=self,
        )
