"""Commands as the rehearsal plays them: the command provider's remote Command and CopyToRemote,
over SSH and SFTP to the instances (rehearsal/ssh.py).

A Command runs its `create` step when made or replaced (its triggers changed) and its `update`
step (else `create`) when its other inputs changed; a replaced one runs its old `delete` step
after the new `create`, and a deleted one its `delete` step, with the last run's output in
PULUMI_COMMAND_STDOUT and PULUMI_COMMAND_STDERR, as the provider does. Output goes to
<log dir>/<name>.log unless the command's logging is "none" (its output may hold secrets).
"""

from pathlib import Path

import pulumi

from rehearsal import ssh
from rehearsal.environment import Environment, Handler, plausible_id
from rehearsal.state import Record, plain

COMMAND = "command:remote:Command"
COPY = "command:remote:CopyToRemote"


class DeleteStepFailed(ssh.RemoteError):
    """A delete step ran and failed: `pulumi destroy` stops there, and so does the rehearsal."""


def _command(env: Environment, args, previous):
    inputs = args.inputs
    replacing = previous is not None and previous.inputs.get("triggers") != plain(
        inputs.get("triggers")
    )
    script = (
        inputs.get("create")
        if previous is None or replacing
        else (inputs.get("update") or inputs.get("create"))
    )
    result = _run_remote(env, args.name, inputs, script) if script else ssh.Result("", "", 0)
    if replacing:
        _delete(env, previous)
    command_id = previous.id if previous and not replacing else plausible_id(COMMAND, args.name)
    return command_id, {"stdout": result.stdout, "stderr": result.stderr}, {}


def _run_remote(env: Environment, name: str, inputs: dict, script: str) -> ssh.Result:
    connection = ssh.Connection.from_inputs(inputs["connection"])
    try:
        result = ssh.run(connection, script, inputs.get("stdin"), inputs.get("environment"))
    except ssh.RemoteError as unreached:  # named by its step, as Pulumi names the resource
        raise type(unreached)(f"{name}: {unreached}") from unreached
    logged = inputs.get("logging", "stdoutAndStderr") != "none"
    if logged:
        log = env.log_dir / f"{name}.log"
        log.write_text(f"$ {script}\n{result.stdout}\n--- stderr\n{result.stderr}\n")
    if result.exit_status != 0:
        detail = result.stderr[-2000:] if logged else "(output not logged: it may hold secrets)"
        raise ssh.RemoteError(
            f"{name}: `{script}` on {connection.host} exited {result.exit_status}: {detail}"
        )
    return result


def _delete(env: Environment, record: Record) -> None:
    """Runs the command's delete step, if it has one."""
    if not record.inputs.get("delete"):
        return
    inputs = record.inputs
    connection = ssh.Connection.from_inputs(inputs["connection"])
    environment = {
        **(inputs.get("environment") or {}),
        "PULUMI_COMMAND_STDOUT": record.outputs.get("stdout", ""),
        "PULUMI_COMMAND_STDERR": record.outputs.get("stderr", ""),
    }
    result = ssh.run(connection, inputs["delete"], None, environment)
    if result.exit_status != 0:
        raise DeleteStepFailed(
            f"delete of {record.name} exited {result.exit_status}: {result.stderr[-2000:]}"
        )


def _copy(env: Environment, args, previous):
    connection = ssh.Connection.from_inputs(args.inputs["connection"])
    source = args.inputs["source"]
    remote_path = args.inputs["remotePath"]
    if isinstance(source, pulumi.FileAsset | pulumi.FileArchive):
        ssh.copy(connection, Path(source.path), remote_path)
    elif isinstance(source, pulumi.StringAsset):
        ssh.copy_text(connection, source.text, remote_path)
    else:
        raise TypeError(
            f"{args.name}: CopyToRemote copies a FileAsset, StringAsset or "
            f"FileArchive, not {type(source).__name__}"
        )
    copy_id = previous.id if previous else plausible_id(COPY, args.name)
    return copy_id, {}, {}


HANDLERS = {
    COMMAND: Handler(_command, delete=_delete),
    COPY: Handler(_copy),
}
