"""Runs pulumi-command's remote resources for real: commands and copies over SSH.

Same semantics as pulumi-command's provider: it dials `connection.host` as `connection.user`
with `connection.private_key`, through `connection.proxy` when set, retrying the dial like its
`dial_error_limit`/`per_dial_timeout`. With `connection.host_key` it accepts that host key alone
(Go's ssh.FixedHostKey, asking for that key's type only): another one fails the dial, which is
dialled again when direct and fails at once through a proxy (pulumi-command dials again over the
connection the failed handshake closed). The command's stdin is written then closed; environment
variables are sent as SSH "env" requests (which sshd drops unless AcceptEnv allows them, as
with the real provider); stdout loses one trailing newline.
"""

import base64
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


class HostKeyMismatch(RemoteError):
    """The machine showed a host key other than the one it was expected to show."""


@dataclass(frozen=True)
class Connection:
    host: str
    user: str
    private_key: str
    port: int = 22
    dial_attempts: int = DEFAULT_DIAL_ATTEMPTS
    dial_timeout: float = DEFAULT_DIAL_TIMEOUT
    proxy: "Connection | None" = None
    host_key: str | None = None  # authorized_keys form; None accepts any, as pulumi-command does

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
            host_key=inputs.get("hostKey") or None,
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


def _client(connection: Connection) -> paramiko.SSHClient:
    """A client that accepts the connection's host key alone, or any without one."""
    client = paramiko.SSHClient()
    if connection.host_key is None:
        client.set_missing_host_key_policy(paramiko.AutoAddPolicy())
        return client
    expected = _public_key(connection.host_key)
    name = connection.host if connection.port == 22 else f"[{connection.host}]:{connection.port}"
    client.get_host_keys().add(name, expected.get_name(), expected)
    client.set_missing_host_key_policy(paramiko.RejectPolicy())
    return client


def _public_key(authorized: str) -> paramiko.PKey:
    key_type, blob = authorized.split()[:2]
    return paramiko.PKey.from_type_string(key_type, base64.b64decode(blob))


def _fingerprint(key: paramiko.PKey) -> str:
    return f"{key.get_name()} {key.fingerprint}"


def _dial_once(connection: Connection, sock=None) -> paramiko.SSHClient:
    client = _client(connection)
    try:
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
            # Only the expected key's type is asked for, as pulumi-command asks.
            disabled_algorithms=_other_host_key_types(connection),
        )
    except paramiko.BadHostKeyException as error:
        raise _mismatch(connection, error.key) from error
    except paramiko.SSHException as error:
        # RejectPolicy: a key of another type than the expected one.
        transport = client.get_transport()
        if connection.host_key is not None and "not found in known_hosts" in str(error):
            raise _mismatch(connection, transport.get_remote_server_key()) from error
        raise
    return client


def _other_host_key_types(connection: Connection) -> dict[str, list[str]]:
    if connection.host_key is None:
        return {}
    wanted = _public_key(connection.host_key).get_name()
    others = [t for t in paramiko.Transport._preferred_keys if t != wanted]
    return {"keys": others}


def _mismatch(connection: Connection, shown: paramiko.PKey) -> HostKeyMismatch:
    expected = _public_key(connection.host_key)
    return HostKeyMismatch(
        f"host key mismatch: {connection.user}@{connection.host} showed {_fingerprint(shown)}, "
        f"not the key made for it ({_fingerprint(expected)}); nothing was sent"
    )


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
        except HostKeyMismatch as error:
            if via is not None:
                raise
            last_error = error
        # EOFError: sshd closed the connection mid-handshake, as it does while cloud-init
        # restarts it on a machine's first boot.
        except (TimeoutError, OSError, EOFError, paramiko.SSHException) as error:
            last_error = error
        time.sleep(pause)
        pause = min(pause * DIAL_PAUSE_GROWTH, DIAL_MAX_PAUSE)
    mismatch = isinstance(last_error, HostKeyMismatch)
    raise (HostKeyMismatch if mismatch else RemoteError)(
        f"could not reach {connection.user}@{connection.host} after "
        f"{connection.dial_attempts} attempts: {last_error if mismatch else repr(last_error)}"
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
