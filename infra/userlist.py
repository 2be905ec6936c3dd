"""The class list: who may sign in, and who is an admin.

The file has one email per line, optionally followed by the word `admin`. `#` starts a comment and
blank lines are ignored. A username is the full email, lower-cased, so `Ada@School.org` and
`ada@school.org` are one student, and two schools' `ada` never collide.
"""

import re
from dataclasses import dataclass
from pathlib import Path

from infra.errors import ConfigError

ADMIN_MARK = "admin"

# Deliberately plain: one @, a dotted domain, no spaces. Google addresses all fit.
_EMAIL = re.compile(
    r"^[a-z0-9.!#$%&'*+/=?^_`{|}~-]+@[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)+$"
)


@dataclass(frozen=True)
class Member:
    """A person on the class list; `name` is their JupyterHub username."""

    name: str
    admin: bool

    @property
    def domain(self) -> str:
        return self.name.rsplit("@", 1)[1]


@dataclass(frozen=True)
class ClassList:
    members: tuple[Member, ...]

    @property
    def admins(self) -> tuple[Member, ...]:
        return tuple(m for m in self.members if m.admin)

    def as_hub_json(self) -> dict:
        """The shape the hub's sync script and jupyterhub_config.py read."""
        return {"users": [{"name": m.name, "admin": m.admin} for m in self.members]}


def is_email(text: str) -> bool:
    return bool(_EMAIL.match(text))


def read_class_list(path: Path, shown_as: str) -> ClassList:
    """Reads and checks the class list file; every problem is reported with its line number."""
    if not path.is_file():
        raise ConfigError(
            f"camphub:userlistFile: the class list {shown_as} does not exist ({path}). "
            "Create it with one student email per line (add ` admin` after teachers' emails), "
            "or point camphub:userlistFile at it."
        )
    return parse_class_list(path.read_text(encoding="utf-8"), shown_as)


def parse_class_list(text: str, shown_as: str) -> ClassList:
    members: list[Member] = []
    first_seen: dict[str, int] = {}
    problems: list[str] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        words = raw.split("#", 1)[0].split()
        if not words:
            continue
        where = f"{shown_as} line {number}"
        member, problem = _parse_line(words, where)
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


def _parse_line(words: list[str], where: str) -> tuple[Member | None, str | None]:
    email, *rest = words
    name = email.lower()
    if not is_email(name):
        return None, f"{where}: {email!r} is not an email address (expected e.g. ada@school.org)."
    if len(rest) > 1 or (rest and rest[0].lower() != ADMIN_MARK):
        extra = " ".join(rest)
        return None, (
            f"{where}: unexpected {extra!r} after {email}; "
            f"the only word allowed after an email is `{ADMIN_MARK}`."
        )
    return Member(name=name, admin=bool(rest)), None
