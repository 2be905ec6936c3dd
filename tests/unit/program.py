"""Runs the real camphub program (or one component) under Pulumi's mock runtime and records
every resource it declares, with its inputs and the options the engine would receive."""

import hashlib
import json
import runpy
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pulumi
from pulumi.runtime import rpc
from pulumi.runtime.mocks import MockMonitor
from pulumi.runtime.stack import run_in_stack
from pulumi.runtime.sync_await import _sync_await

from infra.config_keys import SECRET_KEYS
from infra.layout import PROJECT_DIR, SUBNET_CIDR
from infra.userlist import EXAMPLE_CLASS_LIST

SECRET_SIG = rpc._special_secret_sig

# The only invokes the program may use, answered as AWS would.
INVOKES = {
    "aws:ec2/getAmi:getAmi": {
        "id": "ami-0fedcba9876543210",
        "architecture": "x86_64",
        "name": "debian-13-amd64-20261101-1234",
    },
    # Asked only with camphub:subnetId (infra/network.py), for that subnet: one of the default
    # VPC's, where a camp deployed before camphub made its own network lives (or the camp's own,
    # see answer()).
    "aws:ec2/getSubnet:getSubnet": {
        "id": "subnet-0aaaaaaaaaaaaaaaa",
        "availabilityZone": "us-east-1a",
        "cidrBlock": "172.31.0.0/20",
        "vpcId": "vpc-0123456789abcdef0",
        "mapPublicIpOnLaunch": True,
        "defaultForAz": True,
        "tags": {},
    },
    "aws:index/getAvailabilityZones:getAvailabilityZones": {"names": ["us-east-1a", "us-east-1b"]},
    "aws:route53/getZone:getZone": {"zoneId": "Z0123456789ABCDEFGHIJ", "name": "camp.example.org"},
    "aws:index/getRegion:getRegion": {"region": "us-east-1"},
    "aws:index/getCallerIdentity:getCallerIdentity": {"accountId": "123456789012"},
}

ZONES = INVOKES["aws:index/getAvailabilityZones:getAvailabilityZones"]["names"]
OFFERINGS = "aws:ec2/getInstanceTypeOfferings:getInstanceTypeOfferings"


def answer(args: pulumi.runtime.MockCallArgs, zones=ZONES) -> dict:
    """What AWS answers the program's look-up `args`: every instance type it asks about is
    offered in each of `zones`; a machine of the camp runs in the camp's own subnet."""
    if args.token == OFFERINGS:
        return offerings({zone: _asked_types(args) for zone in zones})
    if args.token == "aws:ec2/getSubnets:getSubnets":  # by id: those that exist
        (by_id,) = args.args["filters"]
        known = {OWN_SUBNET_ID, INVOKES[GET_SUBNET]["id"]}
        return {"ids": [i for i in by_id["values"] if i in known]}
    if args.token == GET_SUBNET and args.args.get("id") == OWN_SUBNET_ID:
        return own_subnet()
    if args.token == GET_INSTANCE:
        return {"id": args.args["instanceId"], "subnetId": OWN_SUBNET_ID}
    return INVOKES.get(args.token, {})


def _stable_number(name: str) -> int:
    return int(hashlib.sha256(name.encode()).hexdigest()[:4], 16) % 200 + 1


GET_SUBNET = "aws:ec2/getSubnet:getSubnet"
GET_INSTANCE = "aws:ec2/getInstance:getInstance"


def aws_id(typ: str, name: str) -> str:
    """The id AWS gives a resource of `typ` called `name` (`<name>-id` for a type whose ids
    no test reads)."""
    prefix = {
        "aws:ebs/volume:Volume": "vol",
        "aws:ec2/vpc:Vpc": "vpc",
        "aws:ec2/subnet:Subnet": "subnet",
        "aws:ec2/internetGateway:InternetGateway": "igw",
        "aws:ec2/routeTable:RouteTable": "rtb",
        "aws:ec2/routeTableAssociation:RouteTableAssociation": "rtbassoc",
    }.get(typ)
    return f"{prefix}-0{_stable_number(name):016x}" if prefix else f"{name}-id"


# The camp's own subnet (infra/network.py), as the mocks make it and describe it.
OWN_SUBNET_ID = aws_id("aws:ec2/subnet:Subnet", "camphub-subnet")


def own_subnet(stack: str = "test") -> dict:
    return {
        **INVOKES[GET_SUBNET],
        "id": OWN_SUBNET_ID,
        "cidrBlock": SUBNET_CIDR,
        "vpcId": aws_id("aws:ec2/vpc:Vpc", "camphub-vpc"),
        "defaultForAz": False,
        "tags": {"Name": "camphub-subnet", "camphub:stack": stack},
    }


def offerings(offered: dict[str, list[str]]) -> dict:
    """getInstanceTypeOfferings' answer: {zone: instance types} as its parallel lists."""
    pairs = [(zone, t) for zone, types in offered.items() for t in types]
    return {
        "id": "us-east-1",
        "locations": [zone for zone, _ in pairs],
        "instanceTypes": [t for _, t in pairs],
        "locationTypes": ["availability-zone"] * len(pairs),
    }


def _asked_types(args: pulumi.runtime.MockCallArgs) -> list[str]:
    (instance_type,) = [f for f in args.args["filters"] if f["name"] == "instance-type"]
    return list(instance_type["values"])


FAKE_PRIVATE_KEY = (
    "-----BEGIN OPENSSH PRIVATE KEY-----\nfake-admin-key\n-----END OPENSSH PRIVATE KEY-----\n"
)
# Every other key pair the program makes (a machine's host key) is told apart by its name.
FAKE_HOST_KEY = "fake-host-key"
FAKE_JOIN_TOKEN = "SWMTKN-1-fakejointoken"
FAKE_IMAGE_ID = "sha256:" + "ab" * 32


def fake_key_pair(name: str) -> dict[str, str]:
    """tls.PrivateKey's outputs for resource `name`: the admin key's, or a host key's."""
    if name.endswith("-admin-ssh"):
        private, public = FAKE_PRIVATE_KEY, "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFake admin"
    else:
        private = FAKE_PRIVATE_KEY.replace("fake-admin-key", f"{FAKE_HOST_KEY}-of-{name}")
        public = f"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFake {name}"
    return {"privateKeyOpenssh": private, "publicKeyOpenssh": public + "\n"}


class CampMocks(pulumi.runtime.Mocks):
    """Fills in what AWS and the providers compute; everything else echoes the inputs."""

    def new_resource(self, args: pulumi.runtime.MockResourceArgs):
        # Derived from the name, not the call order: the runtime registers concurrently.
        n = _stable_number(args.name)
        outputs = dict(args.inputs)
        computed = {
            "aws:ec2/instance:Instance": {
                "privateIp": f"10.192.0.{10 + n}",  # in layout.SUBNET_CIDR
                "publicIp": f"198.51.100.{n}",
            },
            "aws:ec2/eip:Eip": {"publicIp": "203.0.113.10", "allocationId": f"eipalloc-{n:08x}"},
            "aws:ec2/keyPair:KeyPair": {"keyName": f"{args.name}-key"},
            "aws:iam/role:Role": {"arn": f"arn:aws:iam::123456789012:role/{args.name}"},
            "aws:ssm/parameter:Parameter": {
                "arn": f"arn:aws:ssm:us-east-1:123456789012:parameter{args.inputs.get('name')}"
            },
            "tls:index/privateKey:PrivateKey": fake_key_pair(args.name),
            "random:index/randomBytes:RandomBytes": {"hex": f"{n:064x}", "base64": "ZmFrZQ=="},
            "random:index/randomId:RandomId": {"hex": f"{n:08x}"},
            "random:index/randomPassword:RandomPassword": {"result": f"fake-password-{n}"},
            "command:remote:Command": {"stdout": self._stdout(args.name), "stderr": ""},
            "aws:ec2/vpc:Vpc": {
                "arn": f"arn:aws:ec2:us-east-1:123456789012:vpc/{aws_id(args.typ, args.name)}",
                "defaultRouteTableId": f"rtb-0{n + 1:016x}",
                "mainRouteTableId": f"rtb-0{n + 1:016x}",
            },
            "aws:ec2/subnet:Subnet": {
                "arn": f"arn:aws:ec2:us-east-1:123456789012:subnet/{aws_id(args.typ, args.name)}"
            },
        }.get(args.typ, {})
        outputs.update(computed)
        return aws_id(args.typ, args.name), outputs

    def _stdout(self, name: str) -> str:
        if name.endswith("swarm-join-token"):
            return FAKE_JOIN_TOKEN + "\n"
        if name.endswith("swarm-join"):
            return f"node-{name}\n"
        if name.endswith("publish-notebook-image"):
            return f"{FAKE_IMAGE_ID} camphub-notebook-0123456789ab.tar\n"
        return ""

    def call(self, args: pulumi.runtime.MockCallArgs):
        return answer(args)


@dataclass
class Declared:
    """One resource as the engine saw it."""

    type: str
    name: str
    urn: str
    id: str
    parent: str
    inputs: dict
    raw_inputs: dict  # serialized, with secrets still wrapped
    dependencies: list[str]
    protect: bool
    retain_on_delete: bool
    delete_before_replace: bool
    ignore_changes: list[str]
    additional_secret_outputs: list[str]
    outputs: dict  # what the mocks computed, with the inputs they echo

    def is_secret(self, key: str, index: int | None = None) -> bool:
        """Whether input `key` (or, for a list, each of its items, or the one at `index`) reaches
        the engine as secret."""
        value = self.raw_inputs.get(key)
        if index is not None:
            return _is_wrapped_secret(value[index])
        if isinstance(value, list):
            return bool(value) and all(_is_wrapped_secret(v) for v in value)
        return _is_wrapped_secret(value)


def _is_wrapped_secret(value) -> bool:
    return isinstance(value, dict) and value.get(rpc._special_sig_key) == SECRET_SIG


@dataclass
class Deployment:
    resources: list[Declared] = field(default_factory=list)
    outputs: dict = field(default_factory=dict)
    raw_outputs: dict = field(default_factory=dict)

    def of_type(self, typ: str) -> list[Declared]:
        return [r for r in self.resources if r.type == typ]

    def named(self, name: str, typ: str | None = None) -> Declared:
        """The resource called `name` (of type `typ`; by default not a camphub component)."""
        matches = [
            r
            for r in self.resources
            if r.name == name and (r.type == typ if typ else not r.type.startswith("camphub:"))
        ]
        assert len(matches) == 1, f"expected one resource named {name}, found {len(matches)}"
        return matches[0]

    def by_urn(self, urn: str) -> Declared:
        return next(r for r in self.resources if r.urn == urn)

    def depends_on(self, resource: Declared, other: Declared) -> bool:
        """Whether `resource` waits for `other`, directly or through what it waits for."""
        seen, todo = set(), list(resource.dependencies)
        while todo:
            urn = todo.pop()
            if urn == other.urn:
                return True
            if urn in seen:
                continue
            seen.add(urn)
            todo.extend(self.by_urn(urn).dependencies)
        return False

    def own_triggers(self, step: Declared) -> list:
        """A step's triggers but its machine's instance id, which triggers every step without a
        delete action (tests/unit/test_replaced_machines.py)."""
        instance_ids = {i.id for i in self.of_type("aws:ec2/instance:Instance")}
        return [t for t in step.inputs.get("triggers") or [] if t not in instance_ids]

    def output_is_secret(self, name: str) -> bool:
        return _is_wrapped_secret(self.raw_outputs.get(name))


class RecordingMonitor(MockMonitor):
    def __init__(self, mocks: pulumi.runtime.Mocks, deployment: Deployment):
        super().__init__(mocks)
        self.deployment = deployment

    def RegisterResource(self, request):
        response = super().RegisterResource(request)
        raw = json.loads(json.dumps(_struct_to_dict(request.object)))
        dependencies = set(request.dependencies)
        for deps in request.propertyDependencies.values():
            dependencies.update(deps.urns)
        if request.type != "pulumi:pulumi:Stack":
            self.deployment.resources.append(
                Declared(
                    type=request.type,
                    name=request.name,
                    urn=response.urn,
                    id=response.id,
                    parent=request.parent,
                    inputs=_unwrap_secrets(rpc.deserialize_properties(request.object)),
                    raw_inputs=raw,
                    dependencies=sorted(dependencies),
                    protect=request.protect,
                    retain_on_delete=request.retainOnDelete,
                    delete_before_replace=request.deleteBeforeReplace,
                    ignore_changes=list(request.ignoreChanges),
                    additional_secret_outputs=list(request.additionalSecretOutputs),
                    outputs=_unwrap_secrets(rpc.deserialize_properties(response.object)),
                )
            )
        return response

    def RegisterResourceOutputs(self, request):
        if "::pulumi:pulumi:Stack::" in request.urn:
            self.deployment.raw_outputs = _struct_to_dict(request.outputs)
            self.deployment.outputs = _unwrap_secrets(rpc.deserialize_properties(request.outputs))
        return super().RegisterResourceOutputs(request)


def _unwrap_secrets(value):
    """Plain values, for reading; whether a value was secret is asked of the raw inputs."""
    if isinstance(value, dict):
        if value.get(rpc._special_sig_key) == SECRET_SIG:
            return _unwrap_secrets(value["value"])
        return {k: _unwrap_secrets(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_unwrap_secrets(v) for v in value]
    return value


def _struct_to_dict(struct) -> dict:
    from google.protobuf import json_format

    return json_format.MessageToDict(struct)


def config_for(values: dict, secret_keys: tuple[str, ...] = SECRET_KEYS) -> dict:
    """`camphub:` stack config as the CLI hands it over (objects JSON-encoded)."""
    encoded = {}
    for key, value in values.items():
        full = key if ":" in key else f"camphub:{key}"
        encoded[full] = value if isinstance(value, str) else json.dumps(value)
    return encoded, [f"camphub:{k}" for k in secret_keys if f"camphub:{k}" in encoded]


class EchoMocks(pulumi.runtime.Mocks):
    """Mocks that compute nothing: every output is an input, every invoke answers only what the
    program is allowed to ask."""

    def new_resource(self, args: pulumi.runtime.MockResourceArgs):
        return f"{args.name}-id", dict(args.inputs)

    def call(self, args: pulumi.runtime.MockCallArgs):
        return answer(args)


def deploy(
    values: dict,
    body: Callable[[], object] | None = None,
    mocks: pulumi.runtime.Mocks | None = None,
    monitor: Callable[[pulumi.runtime.Mocks, Deployment], RecordingMonitor] = RecordingMonitor,
) -> Deployment:
    """Runs `body` (default: the whole program) against the given stack config; `monitor`
    makes the engine's side (by default one with no state from an earlier run)."""
    deployment = Deployment()
    config, secret_keys = config_for(values)
    pulumi.runtime.set_all_config(config, secret_keys)
    mocks = mocks or CampMocks()
    pulumi.runtime.set_mocks(
        mocks,
        project="camphub",
        stack="test",
        preview=False,
        monitor=monitor(mocks, deployment),
    )
    run = body or (lambda: runpy.run_path(str(PROJECT_DIR / "__main__.py")))

    # As the Python entry point runs a program: inside a stack, which collects the exports.
    pulumi.runtime.settings.ROOT.set(None)
    _sync_await(run_in_stack(run))
    return deployment


def stack_config(stack_file: Path) -> dict:
    """The `config:` of a Pulumi.<stack>.yaml, keys as written there."""
    import yaml

    return yaml.safe_load(stack_file.read_text())["config"]


# What an organizer sets before the first `pulumi up` (README.md, "Before the first `pulumi up`"):
# the required settings, and the class list copied from the example.
ORGANIZER_SETS = {
    "oauthClientId": "1234-camp.apps.googleusercontent.com",
    "oauthClientSecret": "set-by-the-organizer",
    "sshAllowedCidrs": ["84.17.40.7/32"],
    "userlistFile": str(PROJECT_DIR / EXAMPLE_CLASS_LIST),
}


def organizer_config(stack_file: Path) -> dict:
    """A stack file's `camphub:` values (keys without the namespace) once the organizer has set
    the required ones; a value of the stack file's own stays as the file has it."""
    values = stack_config(stack_file)
    own = {k.removeprefix("camphub:"): v for k, v in values.items() if k.startswith("camphub:")}
    return {**ORGANIZER_SETS, **own}
