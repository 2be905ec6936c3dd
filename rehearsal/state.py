"""What a rehearsal made, kept between runs like a Pulumi state file.

Each resource the program declared is recorded with a digest of its inputs and the outputs the
mocks returned. A later run returns the recorded outputs for a resource whose inputs did not
change (so nothing on a machine changes), and a resource no longer declared is deleted. Records
are kept in the order the program declared them in its last run, which respects its
dependencies, so deleting in reverse order deletes dependents first.

The file holds secrets (command outputs, generated keys), so it is readable by root only.
"""

import hashlib
import json
import os
import threading
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pulumi


@dataclass
class Record:
    type: str
    name: str
    id: str
    digest: str
    inputs: dict[str, Any]
    outputs: dict[str, Any]
    # What the local cloud made for it (container, loop device, ...), for deleting it later.
    made: dict[str, Any] = field(default_factory=dict)
    # Declared retain_on_delete: `destroy` leaves what it made in place, as Pulumi leaves it.
    retained: bool = False

    @property
    def key(self) -> str:
        return record_key(self.type, self.name)


def record_key(type_: str, name: str) -> str:
    return f"{type_}::{name}"


def plain(value: Any) -> Any:
    """Inputs as JSON: assets and archives become their path or text and a content digest."""
    if isinstance(value, dict):
        return {key: plain(item) for key, item in sorted(value.items())}
    if isinstance(value, list | tuple):
        return [plain(item) for item in value]
    if isinstance(value, pulumi.FileAsset | pulumi.FileArchive):
        path = Path(value.path)
        return {"path": str(path), "sha256": content_digest(path)}
    if isinstance(value, pulumi.StringAsset):
        return {"text": value.text}
    if isinstance(value, pulumi.AssetArchive):
        return {"assets": plain(dict(value.assets))}
    return value


def content_digest(path: Path) -> str:
    digest = hashlib.sha256()
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    for file in files:
        digest.update(str(file.relative_to(path) if path.is_dir() else file.name).encode())
        digest.update(file.read_bytes())
    return digest.hexdigest()


def digest_of(inputs: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(plain(inputs), sort_keys=True).encode()).hexdigest()


class State:
    """The records of one stack; safe to use from the runtime's worker threads."""

    def __init__(self, path: Path):
        self.path = path
        self._lock = threading.Lock()
        self._previous: dict[str, Record] = {}
        self._current: dict[str, Record] = {}
        if path.exists():
            for raw in json.loads(path.read_text()):
                record = Record(**raw)
                self._previous[record.key] = record

    def previous(self, type_: str, name: str) -> Record | None:
        return self._previous.get(record_key(type_, name))

    def put(self, record: Record) -> None:
        """Records a resource of this run, in declaration order, and saves at once."""
        with self._lock:
            self._current.pop(record.key, None)
            self._current[record.key] = record
            self._save()

    def forget(self, record: Record) -> None:
        """Drops `record`, but not a newer record of the same resource (one that replaced it)."""
        with self._lock:
            for records in (self._previous, self._current):
                if records.get(record.key) == record:
                    del records[record.key]
            self._save()

    def records(self) -> list[Record]:
        """Every record: this run's in declaration order, after the ones it no longer declared."""
        with self._lock:
            return [*self.orphans(), *self._current.values()]

    def orphans(self) -> list[Record]:
        """Records of an earlier run that this run did not declare (yet)."""
        return [r for key, r in self._previous.items() if key not in self._current]

    def _save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        records = [*self.orphans(), *self._current.values()]
        partial = self.path.with_suffix(".partial")
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as file:
            json.dump([asdict(r) for r in records], file, indent=1, default=str)
        partial.replace(self.path)
