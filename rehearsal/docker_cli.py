"""The Docker engine as the local cloud calls it: its command line, and the one prefix every
object the rehearsal makes there is named and labelled with (`camphub-rehearsal-<stack>...`), so
it can be listed and removed without touching anything else on the shared Docker engine.
"""

import subprocess

PREFIX = "camphub-rehearsal"


class CloudError(RuntimeError):
    """A Docker or loop-device operation of the local cloud failed."""


def docker(*args: str, check: bool = True, stdin: bytes | None = None) -> str:
    result = subprocess.run(["docker", *args], input=stdin, capture_output=True, check=False)
    if check and result.returncode != 0:
        detail = result.stderr.decode(errors="replace").strip()
        raise CloudError(f"docker {args[0]} {args[1] if len(args) > 1 else ''} failed: {detail}")
    return result.stdout.decode(errors="replace").strip()


def exists(kind: str, name: str) -> bool:
    """Whether the Docker object (image, network, container, volume) exists."""
    result = subprocess.run(["docker", kind, "inspect", name], capture_output=True, check=False)
    return result.returncode == 0
