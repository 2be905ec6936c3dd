"""SSM parameters as the rehearsal plays them: in moto's server (rehearsal/moto_stand_in.py),
where a machine's role reads its host key (infra/host_key.py).

A parameter whose name changed (a new instance of its machine) is made anew and the old one
deleted, as the provider replaces it. An unchanged one is reused only while moto still has it:
moto keeps everything in memory, and a restarted server is given it again.
"""

from rehearsal.environment import Environment, Handler
from rehearsal.moto_server import ACCOUNT_ID, REGION
from rehearsal.state import Record

PARAMETER = "aws:ssm/parameter:Parameter"


def _parameter(env: Environment, args, previous: Record | None):
    name = args.inputs["name"]
    env.aws.put_parameter(name, args.inputs["value"], args.inputs.get("type") or "String")
    if previous is not None and previous.id != name:
        env.aws.delete_parameter(previous.id)
    outputs = {
        "arn": f"arn:aws:ssm:{REGION}:{ACCOUNT_ID}:parameter{name}",
        "name": name,
        "version": 1,
        "tier": "Standard",
    }
    return name, outputs, {}


def _still_there(env: Environment, record: Record) -> bool:
    return env.aws.has_parameter(record.id)


def _delete(env: Environment, record: Record) -> None:
    env.aws.delete_parameter(record.id)


HANDLERS = {PARAMETER: Handler(_parameter, still_there=_still_there, delete=_delete)}
