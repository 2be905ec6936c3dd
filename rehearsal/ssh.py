"""Runs pulumi-command's remote resources for real: commands and copies over SSH.

Same semantics as pulumi-command's provider: it dials `connection.host` as `connection.user`
with `connection.private_key`, through `connection.proxy` when set, retrying the dial like its
`dial_error_limit`/`per_dial_timeout`; the command's stdin is written then closed; environment
variables are sent as SSH "env" requests (which sshd drops unless AcceptEnv allows them, as
with the real provider); stdout loses one trailing newline.
"""

import io
import stat
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import paramiko

DEFAULT_DIAL_ATTEMPTS = 10
DEFAULT_DIAL_TIMEOUT = 15
# Between dials, as pulumi-command (Pulumi retry defaults): 0.1 s, growing 1.5 times, up to 5 s.
DIAL_FIRST_PAUSE, DIAL_PAUSE_GROWTH, DIAL_MAX_PAUSE = 0.1, 1.5, 5.0
KEY_TYPES = (paramiko.Ed25519Key, paramiko.ECDSAKey, paramiko.RSAKey)


class RemoteError(RuntimeError):
    """A remote command failed or a machine could not be reached."""


@dataclass(frozen=True)
class Connection:
    host: str
    user: str
    private_key: str
    port: int = 22
    dial_attempts: int = DEFAULT_DIAL_ATTEMPTS
    dial_timeout: float = DEFAULT_DIAL_TIMEOUT
    proxy: "Connection | None" = None

    @classmethod
    def from_inputs(cls, inputs: dict) -> "Connection":
        """From a pulumi-command `connection` input (camelCase, as the mock runtime passes it)."""
        if not inputs.get("privateKey"):
            raise RemoteError(f"connection to {inputs.get('host')} has no privateKey")
        proxy = inputs.get("proxy")
        attempts = int(inputs.get("dialErrorLimit") or DEFAULT_DIAL_ATTEMPTS)
        return cls(
            host=inputs["host"],
            user=inputs.get("user") or "root",
            private_key=inputs["privateKey"],
            port=int(inputs.get("port") or 22),
            # -1 means "retry forever" to pulumi-command; a rehearsal still needs an end.
            dial_attempts=attempts if attempts > 0 else 10 * DEFAULT_DIAL_ATTEMPTS,
            dial_timeout=float(inputs.get("perDialTimeout") or DEFAULT_DIAL_TIMEOUT),
            proxy=cls.from_inputs(proxy) if proxy else None,
        )


@dataclass(frozen=True)
class Result:
    stdout: str
    stderr: str
    exit_status: int


def _load_key(text: str) -> paramiko.PKey:
    for key_type in KEY_TYPES:
        try:
            return key_type.from_private_key(io.StringIO(text))
        except paramiko.SSHException:
            continue
    raise RemoteError("the connection's privateKey is not an Ed25519, ECDSA or RSA private key")


def _client() -> paramiko.SSHClient:
    client = paramiko.SSHClient()
    # pulumi-command does not verify host keys either: a new instance has new ones.
    client.set_missing_host_key_policy(paramiko.AutoAddPolicy())
    return client


def _dial_once(connection: Connection, sock=None) -> paramiko.SSHClient:
    client = _client()
    client.connect(
        connection.host,
        port=connection.port,
        username=connection.user,
        pkey=_load_key(connection.private_key),
        timeout=connection.dial_timeout,
        banner_timeout=connection.dial_timeout,
        auth_timeout=connection.dial_timeout,
        look_for_keys=False,
        allow_agent=False,
        sock=sock,
    )
    return client


def _dial(connection: Connection, via: paramiko.SSHClient | None = None) -> paramiko.SSHClient:
    """Dials until it succeeds or the attempts run out (a booting machine refuses for a while)."""
    last_error: Exception | None = None
    pause = DIAL_FIRST_PAUSE
    for _ in range(connection.dial_attempts):
        sock = None
        try:
            if via is not None:
                sock = via.get_transport().open_channel(
                    "direct-tcpip",
                    (connection.host, connection.port),
                    ("127.0.0.1", 0),
                    timeout=connection.dial_timeout,
                )
            return _dial_once(connection, sock)
        # EOFError: sshd closed the connection mid-handshake, as it does while cloud-init
        # restarts it on a machine's first boot.
        except (TimeoutError, OSError, EOFError, paramiko.SSHException) as error:
            last_error = error
            time.sleep(pause)
            pause = min(pause * DIAL_PAUSE_GROWTH, DIAL_MAX_PAUSE)
    raise RemoteError(
        f"could not reach {connection.user}@{connection.host} after "
        f"{connection.dial_attempts} attempts: {last_error!r}"
    )


@contextmanager
def session(connection: Connection):
    """An SSH client to the connection's host, through its jump host when it has one."""
    jump = _dial(connection.proxy) if connection.proxy else None
    try:
        client = _dial(connection, via=jump)
        try:
            yield client
        finally:
            client.close()
    finally:
        if jump is not None:
            jump.close()


def run(
    connection: Connection,
    command: str,
    stdin: str | None = None,
    environment: dict[str, str] | None = None,
) -> Result:
    with session(connection) as client:
        channel = client.get_transport().open_session()
        for name, value in (environment or {}).items():
            channel.set_environment_variable(name, value)
        channel.exec_command(command)
        if stdin:
            channel.sendall(stdin.encode())
        channel.shutdown_write()
        stdout, stderr = _drain(channel)
        status = channel.recv_exit_status()
    return Result(stdout.removesuffix("\n"), stderr.removesuffix("\n"), status)


def _drain(channel: paramiko.Channel) -> tuple[str, str]:
    """Reads stdout and stderr together so neither side's buffer can stall the command."""
    out, err = bytearray(), bytearray()
    while True:
        progressed = False
        if channel.recv_ready():
            out += channel.recv(65536)
            progressed = True
        if channel.recv_stderr_ready():
            err += channel.recv_stderr(65536)
            progressed = True
        if (
            channel.exit_status_ready()
            and not channel.recv_ready()
            and not (channel.recv_stderr_ready())
        ):
            break
        if not progressed:
            time.sleep(0.05)
    return out.decode(errors="replace"), err.decode(errors="replace")


# CopyToRemote.


def copy(connection: Connection, source: Path, remote_path: str) -> None:
    """Copies a local file or directory like pulumi-command's CopyToRemote.

    Missing parents of `remote_path` are created. If `remote_path` is an existing directory the
    source is copied into it (keeping its name); otherwise the source becomes `remote_path`.
    Directories are copied recursively, overwriting existing files.
    """
    with session(connection) as client, client.open_sftp() as sftp:
        target = PurePosixPath(remote_path)
        if _is_dir(sftp, target):
            target = target / source.name
        else:
            _makedirs(sftp, target.parent)
        if source.is_dir():
            _put_tree(sftp, source, target)
        else:
            sftp.put(str(source), str(target))


def copy_text(connection: Connection, text: str, remote_path: str) -> None:
    """A StringAsset: the text becomes the remote file (into an existing directory as `asset`)."""
    with session(connection) as client, client.open_sftp() as sftp:
        target = PurePosixPath(remote_path)
        if _is_dir(sftp, target):
            raise RemoteError(f"{remote_path} is a directory; a text asset needs a file path")
        _makedirs(sftp, target.parent)
        sftp.putfo(io.BytesIO(text.encode()), str(target))


def _put_tree(sftp: paramiko.SFTPClient, source: Path, target: PurePosixPath) -> None:
    _makedirs(sftp, target)
    for entry in sorted(source.iterdir()):
        if entry.is_dir():
            _put_tree(sftp, entry, target / entry.name)
        else:
            sftp.put(str(entry), str(target / entry.name))


def _is_dir(sftp: paramiko.SFTPClient, path: PurePosixPath) -> bool:
    try:
        return stat.S_ISDIR(sftp.stat(str(path)).st_mode or 0)
    except FileNotFoundError:
        return False


def _makedirs(sftp: paramiko.SFTPClient, path: PurePosixPath) -> None:
    if str(path) in ("/", "") or _is_dir(sftp, path):
        return
    _makedirs(sftp, path.parent)
    sftp.mkdir(str(path))
