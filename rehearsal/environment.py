"""What every resource handler of the rehearsal is given, and what they share.

A handler plays one resource type (rehearsal/ec2_instances.py, rehearsal/ec2_volumes.py,
rehearsal/ec2_addresses.py, rehearsal/s3_iam.py, rehearsal/commands.py, rehearsal/random_tls.py,
rehearsal/route53.py); the engine (rehearsal/engine.py) calls it with the `Environment`, the
resource's arguments and its record from the last run, and keeps what it returns.
"""

import hashlib
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi

from rehearsal.cloud import LocalCloud
from rehearsal.moto_server import REGION
from rehearsal.moto_stand_in import AwsStandIn
from rehearsal.state import Record, State

# The region and the account (ACCOUNT_ID) are moto's (rehearsal/moto_server.py), so that the
# ARNs and the caller identity the mocks answer with name what moto holds.
ZONE = f"{REGION}a"


@dataclass(frozen=True)
class Environment:
    """What the mocks know about the local cloud they play."""

    cloud: LocalCloud
    state: State
    instance_image: str
    vpc_cidr: str  # the camp's subnet, played by the private network: its range of the VPC
    log_dir: Path
    started: float = field(default_factory=time.monotonic)

    @property
    def aws(self) -> AwsStandIn:
        return AwsStandIn(self.cloud.work_dir / "aws")


@dataclass(frozen=True)
class Handler:
    """How the rehearsal plays one resource type.

    `create(env, args, previous)` makes or updates the resource and returns (id, computed
    outputs, what it made); `still_there(env, record)` says whether an unchanged resource may be
    reused as recorded (always, when not given); `delete(env, record)` undoes what it made
    (nothing, when not given); `release(env, record)` undoes what a record that a new one was
    made in place of held beside what the new one took over (an instance's role key)."""

    create: Callable[
        [Environment, pulumi.runtime.MockResourceArgs, Record | None],
        tuple[str, dict[str, Any], dict[str, Any]],
    ]
    still_there: Callable[[Environment, Record], bool] | None = None
    delete: Callable[[Environment, Record], None] | None = None
    release: Callable[[Environment, Record], None] | None = None


def short(type_: str) -> str:
    return type_.rsplit(":", 1)[-1]


def plausible_id(type_: str, name: str) -> str:
    return f"{short(type_).lower()}-{hashlib.sha256(name.encode()).hexdigest()[:8]}-" + (
        secrets.token_hex(4)
    )
