"""Pulumi mocks that play the cloud for real (see rehearsal/substitutions.py for what is not):
the resource lifecycle, with each resource type played by its handler.

Pulumi's mock runtime calls `new_resource` in the program's own dependency order, from a thread
pool, after each resource's inputs resolved. What plays what:
- rehearsal/ec2_instances.py: an EC2 instance boots a container (rehearsal/cloud.py), changed
  as EC2 changes it (rehearsal/ec2_instance_changes.py), its role's credentials given to it
  (rehearsal/ec2_instance_roles.py);
- rehearsal/ec2_volumes.py: an EBS volume becomes a loop device (and a volume in moto's EC2);
- rehearsal/ec2_addresses.py: an Elastic IP becomes an address on the public network;
- rehearsal/s3_iam.py: an S3 bucket and its settings and an instance role's policy are played by
  moto (rehearsal/moto_stand_in.py);
- rehearsal/commands.py: a remote command runs over SSH, a copy goes over SFTP;
- rehearsal/route53.py: a DNS record is set in the DNS of the ACME stand-in (Let's Encrypt's),
  a hosted zone is looked up in moto's Route 53;
- rehearsal/vpc.py: the camp's own network is recorded with AWS's ids, its subnet played by the
  stack's private Docker network;
- rehearsal/random_tls.py: random values and keys are generated here;
- rehearsal/security_groups.py: the security groups and their rules, recorded, filter the
  instances' inbound traffic, rebuilt whenever a group, a rule, an instance or an Elastic IP
  is made, changed or deleted;
everything else is recorded with a plausible id. A resource whose inputs did not change since
the last run gets its recorded outputs back and nothing runs, as with Pulumi itself; one no
longer declared is deleted by `run_delete`. An input the resource names in `ignore_changes`
keeps its recorded value once the resource exists, as Pulumi's engine keeps it.

`pulumi up --replace <urn>`: a resource named in `replace` is made anew from the program's
inputs (ignore_changes too, as Pulumi makes it) even though they did not change, and what depends
on it sees its new outputs (a new instance's id and address) and runs again as it would on AWS;
the old one is deleted after the run, with the ones no longer declared, unless the local cloud
made the new one in its place (an instance's container is named after its resource), which took
the old one away already.
"""

import hashlib
import threading
import time
from collections.abc import Collection
from typing import Any

import pulumi
from pulumi.runtime import rpc

from rehearsal import (
    commands,
    ec2_addresses,
    ec2_instances,
    ec2_volumes,
    random_tls,
    route53,
    s3_iam,
    security_groups,
    ssm_parameters,
    vpc,
)
from rehearsal.environment import ZONE, Environment, Handler, plausible_id, short
from rehearsal.moto_server import ACCOUNT_ID, REGION
from rehearsal.state import Record, digest_of, plain, record_key

HANDLERS: dict[str, Handler] = {
    **ec2_instances.HANDLERS,
    **ec2_volumes.HANDLERS,
    **ec2_addresses.HANDLERS,
    **commands.HANDLERS,
    **s3_iam.HANDLERS,
    **ssm_parameters.HANDLERS,
    **random_tls.HANDLERS,
    **route53.HANDLERS,
    **vpc.HANDLERS,
}


def reveal(value: Any) -> Any:
    """The value with Pulumi's secret wrappers removed: the mock runtime passes a secret input
    (and any object holding one, like a connection with its key) wrapped."""
    if isinstance(value, dict):
        if value.get(rpc._special_sig_key) == rpc._special_secret_sig:
            return reveal(value.get("value"))
        return {key: reveal(item) for key, item in value.items()}
    if isinstance(value, list):
        return [reveal(item) for item in value]
    return value


def secret(value: Any) -> dict[str, Any]:
    return {rpc._special_sig_key: rpc._special_secret_sig, "value": value}


class RehearsalMonitor(pulumi.runtime.mocks.MockMonitor):
    """The mock monitor, passing on what it drops: the outputs a resource declares secret
    (`additional_secret_outputs`), which the engine, not the SDK, would mark."""

    def __init__(self, mocks: "RehearsalMocks"):
        super().__init__(mocks)
        self._mocks = mocks

    def RegisterResource(self, request):
        self._mocks.secret_outputs.names = list(request.additionalSecretOutputs)
        self._mocks.ignored_inputs.names = list(request.ignoreChanges)
        self._mocks.retained.value = request.retainOnDelete
        return super().RegisterResource(request)


class RehearsalMocks(pulumi.runtime.Mocks):
    def __init__(self, env: Environment, replace: Collection[str] = ()):
        self.env = env
        self._print_lock = threading.Lock()
        self.secret_outputs = threading.local()
        self.ignored_inputs = threading.local()
        self.replace = set(replace)  # record keys (rehearsal.state.record_key)
        self.replaced: list[Record] = []  # the old records of those made anew, to delete
        self.retained = threading.local()

    # The runtime's entry points.

    def new_resource(self, args: pulumi.runtime.MockResourceArgs):
        if not args.custom:
            return args.name, {}
        previous = self.env.state.previous(args.typ, args.name)
        replaced = previous if record_key(args.typ, args.name) in self.replace else None
        if replaced is not None:
            previous = None
        ignored = getattr(self.ignored_inputs, "names", ())
        declared = with_ignored_inputs_kept(args.inputs, previous, ignored)
        args.inputs = reveal(declared)
        digest = digest_of(args.inputs)
        retained = bool(getattr(self.retained, "value", False))
        if previous is not None and previous.digest == digest and self._still_there(previous):
            previous.retained = retained  # the options of this run count, as in Pulumi's state
            self.env.state.put(previous)
            _filter_again(self.env, previous)
            return previous.id, self._state(declared, previous.outputs)
        handler = HANDLERS.get(args.typ)
        create = handler.create if handler else _record
        began = time.monotonic()
        resource_id, outputs, made = create(self.env, args, previous)
        record = Record(args.typ, args.name, resource_id, digest, plain(args.inputs), outputs, made)
        record.retained = retained
        self.env.state.put(record)
        _filter_again(self.env, record)
        if replaced is not None and not _made_in_place_of(record, replaced):
            self.replaced.append(replaced)
        elif replaced is not None and handler and handler.release:
            handler.release(self.env, replaced)
        verb = "replaced" if replaced else "created" if previous is None else "updated"
        self.progress(f"{verb} {short(args.typ)} {args.name}", time.monotonic() - began)
        return resource_id, self._state(declared, outputs)

    def left_behind(self) -> list[Record]:
        """What to delete once the program ran, in order: the records it no longer declared and
        the old ones of the resources it replaced, last declared first."""
        return [*reversed(self.env.state.orphans()), *reversed(self.replaced)]

    def _state(self, declared: dict[str, Any], outputs: dict[str, Any]) -> dict[str, Any]:
        """The resource's state: its inputs as declared (secrets still wrapped) and its
        computed outputs, those it declared secret wrapped as secrets."""
        hidden = set(getattr(self.secret_outputs, "names", ()))
        computed = {k: secret(v) if k in hidden else v for k, v in outputs.items()}
        return {**declared, **computed}

    def call(self, args: pulumi.runtime.MockCallArgs):
        """The lookups the program makes; anything else returns nothing, as the unit tests'."""
        if args.token == ec2_instances.OFFERINGS:
            return ec2_instances.offerings(args.args)
        for module in (ec2_volumes, vpc, route53):
            found = module.look_up(self.env, args.token, args.args)
            if found is not None:
                return found
        ami_id = "ami-" + hashlib.sha256(self.env.instance_image.encode()).hexdigest()[:17]
        answers = {
            "aws:ec2/getAmi:getAmi": {
                "id": ami_id,
                "imageId": ami_id,
                "architecture": "x86_64",
                "name": f"rehearsal-{self.env.instance_image}",
            },
            "aws:index/getAvailabilityZones:getAvailabilityZones": {"names": [ZONE]},
            "aws:index/getRegion:getRegion": {"name": REGION, "region": REGION},
            "aws:index/getCallerIdentity:getCallerIdentity": {"accountId": ACCOUNT_ID},
        }
        return answers.get(args.token, {})

    def progress(self, what: str, seconds: float) -> None:
        elapsed = time.monotonic() - self.env.started
        with self._print_lock:
            print(f"  [{elapsed:6.1f}s] {what} ({seconds:.1f}s)", flush=True)

    def _still_there(self, record: Record) -> bool:
        """Whether an unchanged resource may be reused as recorded: its handler says (an
        instance's container, a bucket or role policy in moto), else it may."""
        handler = HANDLERS.get(record.type)
        if handler is None or handler.still_there is None:
            return True
        return handler.still_there(self.env, record)


def with_ignored_inputs_kept(
    inputs: dict[str, Any], previous: Record | None, ignored: list[str]
) -> dict[str, Any]:
    """`inputs` with each one named in `ignored` (the resource's ignore_changes) set to its
    value in the last run, or left out if it had none there, as Pulumi's engine does; the
    program's value counts only when the resource is made."""
    if previous is None:
        return inputs
    kept = dict(inputs)
    for name in ignored:
        if not name.isidentifier():
            raise ValueError(f"ignore_changes {name!r}: the rehearsal keeps top-level inputs only")
        if name in previous.inputs:
            kept[name] = previous.inputs[name]
        else:
            kept.pop(name, None)
    return kept


def _made_in_place_of(record: Record, old: Record) -> bool:
    """Whether the local cloud made `record` where `old` was (the same container), so that
    deleting `old` would delete the new one."""
    resource = record.made.get("resource")
    return resource is not None and resource == old.made.get("resource")


def _record(env: Environment, args, previous):
    """What plays a resource type no handler plays: it is recorded with a plausible id."""
    resource_id = previous.id if previous else plausible_id(args.typ, args.name)
    return resource_id, {"arn": f"arn:aws:rehearsal:::{args.name}"}, {}


def run_delete(env: Environment, record: Record) -> None:
    """Undoes what a record made: a command's delete step, a container, a loop device."""
    handler = HANDLERS.get(record.type)
    if handler is not None and handler.delete is not None:
        handler.delete(env, record)
    _filter_again(env, record, deleted=True)


def _filter_again(env: Environment, record: Record, deleted: bool = False) -> None:
    """The instances' inbound filter, rebuilt when what it is made of changed: a security
    group, a rule, an instance, an Elastic IP (rehearsal/security_groups.py)."""
    if record.type in security_groups.TYPES:
        records = [r for r in env.state.records() if not (deleted and r.key == record.key)]
        security_groups.enforce(env.cloud.stack, records)
