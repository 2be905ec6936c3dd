"""The class list: who may sign in, who is an admin, and whose home may hold more (or less).

The file has one email per line, optionally followed by the word `admin` and by `quota=<GiB>`
(the limit of that person's home instead of the stack's camphub:nfs.homeQuotaGb), in either
order: `teacher@school.org admin quota=50`. `#` starts a comment and blank lines are ignored. A
username is the full email, lower-cased, so `Ada@School.org` and `ada@school.org` are one student,
and two schools' `ada` never collide.
"""

import re
import string
from dataclasses import dataclass
from pathlib import Path

from infra.errors import ConfigError

# Tracked in the project beside README.md; the real class list (students' emails) is not.
EXAMPLE_CLASS_LIST = "userlist.example.txt"
ADMIN_MARK = "admin"
QUOTA_MARK = "quota="
GIB = 1024**3

# DockerSpawner's escaping (dockerspawner 14 `DockerSpawner._escape`: escapism.escape with these
# safe characters and '-' as the escape character, then lower-cased).
_ESCAPE_SAFE = frozenset(string.ascii_lowercase + string.digits)

# Deliberately plain: one @, a dotted domain, no spaces. Google addresses all fit.
_EMAIL = re.compile(
    r"^[a-z0-9.!#$%&'*+/=?^_`{|}~-]+@[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)+$"
)


@dataclass(frozen=True)
class Member:
    """A person on the class list; `name` is their JupyterHub username."""

    name: str
    admin: bool
    home_quota_gb: int | None = None  # None: the stack's camphub:nfs.homeQuotaGb

    @property
    def domain(self) -> str:
        return self.name.rsplit("@", 1)[1]

    def home_limit_gb(self, default_quota_gb: int) -> int:
        return self.home_quota_gb if self.home_quota_gb is not None else default_quota_gb


@dataclass(frozen=True)
class ClassList:
    members: tuple[Member, ...]

    @property
    def admins(self) -> tuple[Member, ...]:
        return tuple(m for m in self.members if m.admin)

    def as_hub_json(self) -> dict:
        """The shape the hub's sync script and jupyterhub_config.py read."""
        return {"users": [{"name": m.name, "admin": m.admin} for m in self.members]}

    def as_homes_json(self, default_quota_gb: int) -> dict:
        """What the NFS server's `make-homes` reads: each home's directory and limit in bytes."""
        return {
            "homes": [
                {
                    "user": m.name,
                    "dir": escaped_username(m.name),
                    "limit_bytes": m.home_limit_gb(default_quota_gb) * GIB,
                }
                for m in self.members
            ]
        }


def escaped_username(name: str) -> str:
    """The name of a user's home, service and snapshots, exactly as DockerSpawner escapes it:
    a-z and 0-9 kept, every other character (upper-case letters and '-' too) written as '-' and
    the two lower-case hex digits of each of its UTF-8 bytes: alice@example.org is
    alice-40example-2eorg. Injective, so two users never share a home."""
    return "".join(
        c if c in _ESCAPE_SAFE else "".join(f"-{byte:02x}" for byte in c.encode()) for c in name
    )


def is_email(text: str) -> bool:
    return bool(_EMAIL.match(text))


def read_class_list(path: Path, shown_as: str, max_quota_gb: int | None = None) -> ClassList:
    """Reads and checks the class list file; every problem is reported with its line number.
    A quota above `max_quota_gb` (the homes volume's size) is one of them."""
    if not path.is_file():
        raise ConfigError(
            f"camphub:userlistFile: the class list {shown_as} does not exist ({path}). "
            f"Copy the example from the project folder (`cp {EXAMPLE_CLASS_LIST} {shown_as}`) and "
            "write one student email per line (` admin` after teachers' emails), or point "
            "camphub:userlistFile at your class list."
        )
    return parse_class_list(path.read_text(encoding="utf-8"), shown_as, max_quota_gb)


def parse_class_list(text: str, shown_as: str, max_quota_gb: int | None = None) -> ClassList:
    members: list[Member] = []
    first_seen: dict[str, int] = {}
    problems: list[str] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        words = raw.split("#", 1)[0].split()
        if not words:
            continue
        where = f"{shown_as} line {number}"
        member, problem = _parse_line(words, where, max_quota_gb)
        if problem:
            problems.append(problem)
            continue
        if member.name in first_seen:
            problems.append(
                f"{where}: {member.name} is already on line {first_seen[member.name]} "
                "(emails are compared ignoring case); keep one of the two lines."
            )
            continue
        first_seen[member.name] = number
        members.append(member)
    if not problems and not members:
        problems.append(
            f"{shown_as}: the class list is empty. Add one student email per line "
            "(and ` admin` after the teachers' emails)."
        )
    if not problems and not any(m.admin for m in members):
        problems.append(
            f"{shown_as}: nobody is marked admin, so nobody could open the admin panel. "
            "Add the word `admin` after at least one teacher's email."
        )
    if problems:
        raise ConfigError(*problems)
    return ClassList(tuple(members))


def _parse_line(
    words: list[str], where: str, max_quota_gb: int | None
) -> tuple[Member | None, str | None]:
    email, *marks = words
    name = email.lower()
    if not is_email(name):
        return None, f"{where}: {email!r} is not an email address (expected e.g. ada@school.org)."
    admin, quota = False, None
    for mark in marks:
        word = mark.lower()
        if word == ADMIN_MARK and not admin:
            admin = True
        elif word.startswith(QUOTA_MARK) and quota is None:
            quota, problem = _quota(mark, where, max_quota_gb)
            if problem:
                return None, problem
        elif word == ADMIN_MARK or word.startswith(QUOTA_MARK):
            return None, f"{where}: {mark!r} is a second {word.split('=')[0]} mark; keep one."
        else:
            return None, (
                f"{where}: unexpected {mark!r} after {email}; after an email come only the word "
                f"`{ADMIN_MARK}` and `{QUOTA_MARK}<GiB>`, in either order, e.g. "
                f"`{name} {ADMIN_MARK} {QUOTA_MARK}50`."
            )
    return Member(name=name, admin=admin, home_quota_gb=quota), None


def _quota(mark: str, where: str, max_quota_gb: int | None) -> tuple[int | None, str | None]:
    """The GiB of a `quota=<GiB>` mark, or the problem with it."""
    value = mark[len(QUOTA_MARK) :]
    fix = (
        f"give a whole number of GiB from 1 up, e.g. `{QUOTA_MARK}20`, or leave it out for the "
        "stack's camphub:nfs.homeQuotaGb"
    )
    if not value.isascii() or not value.isdigit():
        return None, f"{where}: {mark} is not a size in GiB; {fix}."
    gib = int(value)
    if gib == 0:
        return None, f"{where}: {mark} would leave the home no room at all; {fix}."
    if max_quota_gb is not None and gib > max_quota_gb:
        return None, (
            f"{where}: {mark} is more than the whole homes volume ({max_quota_gb} GiB, "
            "camphub:nfs.volumeSizeGb); lower the quota or enlarge the volume."
        )
    return gib, None
