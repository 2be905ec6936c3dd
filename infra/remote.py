"""Running camphub's bootstrap scripts on the machines over SSH (pulumi-command).

Every step is a script under scripts/, delivered to the machine and run as root. Arguments are
never secret; secrets travel on stdin and outputs that could hold one are marked secret and kept
out of the logs. A step reruns in place when its command or stdin changes (its update is its
create); a change to one of its triggers replaces it instead, which runs the create again and then
the old step's delete action. So a step with a delete action is triggered only by what that action
undoes (a worker's swarm node: a new node means the old one is removed), and otherwise that action
runs only when the step itself goes away.

A new instance of a machine (`pulumi up --replace`, or one AWS retired and `pulumi refresh` let go)
is a blank machine at possibly the same address: every step on it must run again. So every step
is triggered by its machine's current instance too, but a step with a delete action: replacing it
for that would run the action against the new machine's work (the archive of the homes, say). Such
a step names the instance in its inputs instead: the archive reaches the NFS server at the
instance's private address (a new one updates it in place), and a worker's membership names the
worker's swarm node, which a new worker or a new swarm changes.
"""

import shlex
from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_command as command

from infra import layout
from infra.payload import SCRIPTS


@dataclass(frozen=True)
class DialBudget:
    """How long a step dials before it fails: pulumi-command's dial_error_limit (it dials once
    more than that) and per_dial_timeout; it pauses 0.1 s between dials, 1.5 times longer after
    each, at most 5 s (pulumi's retry.Until)."""

    error_limit: int
    seconds_per_dial: int

    def worst_case_seconds(self) -> float:
        """Every dial unanswered (a wall drops it) until the limit."""
        dials = self.error_limit + 1
        pauses = sum(min(0.1 * 1.5**n, 5.0) for n in range(dials - 1))
        return dials * self.seconds_per_dial + pauses


# First contact with a new instance (infra/machine.py's cloud-init wait): it takes minutes to
# boot and accept SSH; keep dialling rather than fail the deployment.
FIRST_CONTACT = DialBudget(error_limit=60, seconds_per_dial=10)
# Every later step reaches a machine that is up, so within a minute (about 50 s) it fails: then
# the machine cannot be reached from here, most often because this computer's address is not in
# sshAllowedCidrs (README.md, "Troubleshooting"). A refusal (sshd restarting) is retried for ~5 s.
LATER_STEPS = DialBudget(error_limit=8, seconds_per_dial=5)


@dataclass(frozen=True)
class StepTarget:
    """A machine as its bootstrap steps see it: the prefix of their resource names, how to reach
    it over SSH, what must exist before a step runs there, and the id of its current instance,
    which every step reruns for (made by infra.machine.bring_up)."""

    name: str
    connection: command.remote.ConnectionArgs
    ready: Sequence[pulumi.Resource]
    instance_id: pulumi.Input[str]


@dataclass(frozen=True)
class KnownHost:
    """Where a machine's sshd answers, and the one host key it may show (authorized_keys form;
    infra/host_key.py says why the program can know it)."""

    address: pulumi.Input[str]
    host_key: pulumi.Input[str]


def ssh_connection(
    to: KnownHost,
    private_key: pulumi.Input[str],
    through: KnownHost | None = None,
    dial: DialBudget = LATER_STEPS,
) -> command.remote.ConnectionArgs:
    """A connection as the AMI's login user, through the hub when `through` is given, pinning
    each machine's host key: a machine showing another fails the dial ("ssh: host key
    mismatch"), before the step sends anything."""
    proxy = None
    if through is not None:
        proxy = command.remote.ProxyConnectionArgs(
            host=through.address,
            host_key=through.host_key,
            user=layout.LOGIN_USER,
            private_key=private_key,
            dial_error_limit=dial.error_limit,
            per_dial_timeout=dial.seconds_per_dial,
        )
    return command.remote.ConnectionArgs(
        host=to.address,
        host_key=to.host_key,
        user=layout.LOGIN_USER,
        private_key=private_key,
        proxy=proxy,
        dial_error_limit=dial.error_limit,
        per_dial_timeout=dial.seconds_per_dial,
    )


def script_line(script: str, *args: pulumi.Input[str]) -> pulumi.Output[str]:
    """`sudo <interpreter> /opt/camphub/scripts/<script> <args>`, each argument shell-quoted.

    The interpreter is named explicitly because a copied file does not keep its mode bits.
    """
    path = f"{SCRIPTS.remote_dir}/{script}"
    interpreter = _interpreter(script)
    return pulumi.Output.all(*args).apply(
        lambda values: shlex.join(["sudo", interpreter, path, *map(str, values)])
    )


def _interpreter(script: str) -> str:
    first_line = (SCRIPTS.local_dir / script).read_text().split("\n", 1)[0]
    return "python3" if "python" in first_line else "bash"


@dataclass(frozen=True)
class Step:
    """One bootstrap step on one machine."""

    name: str
    create: pulumi.Input[str]
    stdin: pulumi.Input[str] | None = None
    delete: pulumi.Input[str] | None = None
    triggers: Sequence[pulumi.Input[object]] = ()
    depends_on: Sequence[pulumi.Resource] = ()
    secret_output: bool = False


def run_step(machine: StepTarget, step: Step, parent: pulumi.Resource) -> command.remote.Command:
    """Declares `step` on `machine`; it waits for the machine to be ready, and runs again on a new
    instance of it (see the module's docstring)."""
    triggers = list(step.triggers) if step.delete else [machine.instance_id, *step.triggers]
    return command.remote.Command(
        f"{machine.name}-{step.name}",
        connection=machine.connection,
        create=step.create,
        # Rerun in place when the command or stdin changes; only a trigger replaces the step.
        update=step.create,
        delete=step.delete,
        stdin=step.stdin,
        triggers=triggers or None,
        add_previous_output_in_env=False,
        logging=command.remote.Logging.NONE if step.secret_output else None,
        opts=pulumi.ResourceOptions(
            parent=parent,
            depends_on=[*machine.ready, *step.depends_on],
            additional_secret_outputs=["stdout", "stderr"] if step.secret_output else None,
        ),
    )


def machine_warnings(report: str) -> list[str]:
    """The warnings in a step's report ("...; WARNING: ...; ..."), e.g. a homes volume that an
    earlier camphub formatted ext4 and that therefore has no limits, or a certificate that Let's
    Encrypt did not give yet."""
    return [part.strip() for part in report.split(";") if part.strip().startswith("WARNING:")]


def warn_about(step: command.remote.Command) -> None:
    """Repeats the step's warnings in `pulumi up`'s own output, where the organizer reads them.

    Every `pulumi up` repeats them from the step's recorded report, also when the step does not
    run again (nothing of it changed): the warning says so, as the machine may have moved on."""
    step.stdout.apply(lambda report: _warn_each(report, step))


def _warn_each(report: str | None, step: pulumi.Resource) -> None:
    for warning in machine_warnings(report or ""):
        pulumi.log.warn(f"{warning} (as this step reported when it last ran)", resource=step)
