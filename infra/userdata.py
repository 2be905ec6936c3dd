"""EC2 user-data for each machine role, rendered from the real files under cloud-init/.

`cloud-init/common.yaml` is merged into `cloud-init/<role>.yaml` (maps merged, lists appended, the
role wins on a scalar). A `write_files` entry without `content` takes it from
`cloud-init/files/<path>`, a tree that mirrors the target filesystem. `{{ NAME }}` in any of
these files is replaced by the value of NAME in infra/layout.py, so paths and names have one
source. EC2 is given the document gzipped (`compressed_user_data`).

The result depends only on those files: it is static per role and byte-identical from run to run,
so a changed class list or secret never changes user-data. A running machine keeps the user-data
it was made with (infra/machine.py: EC2 would stop it to apply a change, and cloud-init runs
user-data once per instance), so it holds only what a first boot needs; a changed file reaches a
machine when `pulumi up --replace` makes it anew, which `pulumi up` names in a warning.
"""

import base64
import gzip
import re
from typing import Any

import yaml

from infra import layout

CLOUD_INIT_DIR = layout.PROJECT_DIR / "cloud-init"
FILES_DIR = CLOUD_INIT_DIR / "files"
ROLES = ("hub", "worker", "nfs")
CLOUD_CONFIG_HEADER = "#cloud-config\n"

# EC2 refuses user-data above 16 KB (before base64). The document goes in gzipped
# (`compressed_user_data`); the tests keep every role under three quarters of the limit.
EC2_USER_DATA_LIMIT = 16 * 1024

_LAYOUT_NAME = re.compile(r"\{\{\s*([A-Z][A-Z0-9_]*)\s*\}\}")


class UserDataError(ValueError):
    """A cloud-init source file is missing, malformed or refers to an unknown layout name."""


def render_user_data(role: str) -> str:
    """The complete `#cloud-config` document for one role."""
    if role not in ROLES:
        raise UserDataError(f"unknown role {role!r}: expected one of {', '.join(ROLES)}")
    config = merge_configs(_load_config("common.yaml"), _load_config(f"{role}.yaml"))
    for entry in config.get("write_files", []):
        _fill_file_content(entry)
    return CLOUD_CONFIG_HEADER + yaml.dump(
        config, Dumper=_BlockStyleDumper, sort_keys=False, width=100, allow_unicode=True
    )


def compressed_user_data(document: str) -> str:
    """What EC2 is given: the document gzipped (cloud-init unpacks it, whatever the datasource),
    base64-encoded for the API. No timestamp in the header: the same document, the same bytes."""
    return base64.b64encode(gzip.compress(document.encode(), mtime=0)).decode()


def uncompressed_user_data(given: str) -> str:
    """The document of `compressed_user_data`'s result."""
    return gzip.decompress(base64.b64decode(given)).decode()


def merge_configs(base: Any, override: Any) -> Any:
    """`override` merged into `base`: maps merged key by key, lists appended, else override wins."""
    if isinstance(base, dict) and isinstance(override, dict):
        merged = dict(base)
        for key, value in override.items():
            merged[key] = merge_configs(base[key], value) if key in base else value
        return merged
    if isinstance(base, list) and isinstance(override, list):
        return base + override
    return override


def substitute_layout(text: str, source: str) -> str:
    """`text` with every `{{ NAME }}` replaced by str(layout.NAME)."""

    def value_of(match: re.Match[str]) -> str:
        name = match.group(1)
        if not hasattr(layout, name):
            raise UserDataError(f"{source}: {{{{ {name} }}}} is not a name in infra/layout.py")
        return str(getattr(layout, name))

    return _LAYOUT_NAME.sub(value_of, text)


def _load_config(name: str) -> dict[str, Any]:
    path = CLOUD_INIT_DIR / name
    text = path.read_text()
    if not text.startswith(CLOUD_CONFIG_HEADER):
        raise UserDataError(f"{path}: must start with {CLOUD_CONFIG_HEADER.strip()!r}")
    config = yaml.safe_load(substitute_layout(text, str(path)))
    if not isinstance(config, dict):
        raise UserDataError(f"{path}: expected a mapping of cloud-config keys")
    return config


def _fill_file_content(entry: dict[str, Any]) -> None:
    if "content" in entry or "source" in entry:
        return
    target = entry.get("path", "")
    source = FILES_DIR / target.lstrip("/")
    if not target.startswith("/") or not source.is_file():
        raise UserDataError(
            f"write_files entry {target!r} has no content and {source} does not exist"
        )
    entry["content"] = substitute_layout(source.read_text(), str(source))


class _BlockStyleDumper(yaml.SafeDumper):
    """Writes multi-line strings as `|` blocks so the rendered user-data stays readable."""


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_BlockStyleDumper.add_representer(str, _represent_str)
