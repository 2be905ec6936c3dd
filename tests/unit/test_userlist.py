"""The class list file: emails, admins, quotas, comments, and every way a tired teacher can get it
wrong; and the escaped username that names each home."""

import string

import escapism
import pytest

from infra.errors import ConfigError
from infra.userlist import escaped_username, parse_class_list


def parse(text: str, max_quota_gb: int | None = None):
    return parse_class_list(text, "userlist.txt", max_quota_gb)


def refusal(text: str, max_quota_gb: int | None = None) -> ConfigError:
    """The error the class list `text` is refused with."""
    with pytest.raises(ConfigError) as error:
        parse(text, max_quota_gb)
    return error.value


def test_usernames_are_lower_cased_full_emails():
    members = parse("Ada.Lovelace@School.ORG admin\n").members
    assert [m.name for m in members] == ["ada.lovelace@school.org"]


def test_admin_word_marks_admins_in_any_case():
    class_list = parse("t@s.org ADMIN\nada@s.org\n")
    assert [m.name for m in class_list.admins] == ["t@s.org"]


def test_comments_and_blank_lines_are_ignored():
    class_list = parse("# staff\n\nt@s.org admin  # the teacher\n   \nada@s.org\n")
    assert [m.name for m in class_list.members] == ["t@s.org", "ada@s.org"]


def test_hub_json_lists_every_member_with_admin_flag():
    assert parse("t@s.org admin\nada@s.org\n").as_hub_json() == {
        "users": [{"name": "t@s.org", "admin": True}, {"name": "ada@s.org", "admin": False}]
    }


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("t@s.org admin\nada.s.org\n", "userlist.txt line 2: 'ada.s.org' is not an email"),
        ("t@s.org admin\nada@s\n", "userlist.txt line 2: 'ada@s' is not an email"),
        ("t@s.org admin\nada@s.org admn\n", "line 2: unexpected 'admn' after ada@s.org"),
        ("t@s.org admin\nada@s.org grace@s.org\n", "line 2: unexpected 'grace@s.org'"),
        ("t@s.org admin\nada@s.org\nADA@S.ORG\n", "line 3: ada@s.org is already on line 2"),
        ("# nobody yet\n\n", "the class list is empty"),
        ("ada@s.org\ngrace@s.org\n", "nobody is marked admin"),
    ],
)
def test_mistakes_are_reported_with_their_line(text, expected):
    assert expected in str(refusal(text))


def test_every_bad_line_is_reported_at_once():
    assert len(refusal("t@s.org admin\nbad-one\nbad-two\n").problems) == 2


@pytest.mark.parametrize(
    "line", ["ada@s.org admin quota=50", "ada@s.org quota=50 admin", "ada@s.org ADMIN QUOTA=50"]
)
def test_admin_and_quota_marks_come_in_either_order(line):
    (member,) = parse(f"{line}\n").members
    assert member.admin
    assert member.home_quota_gb == 50


def test_without_a_quota_mark_a_home_gets_the_stack_default():
    class_list = parse("t@s.org admin\nada@s.org quota=25\n")
    assert [m.home_quota_gb for m in class_list.members] == [None, 25]
    assert [m.home_limit_gb(10) for m in class_list.members] == [10, 25]


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("ada@s.org quota=0", "userlist.txt line 2: quota=0 would leave the home no room"),
        ("ada@s.org quota=-5", "userlist.txt line 2: quota=-5 is not a size in GiB"),
        ("ada@s.org quota=2.5", "userlist.txt line 2: quota=2.5 is not a size in GiB"),
        ("ada@s.org quota=lots", "userlist.txt line 2: quota=lots is not a size in GiB"),
        ("ada@s.org quota=", "userlist.txt line 2: quota= is not a size in GiB"),
        ("ada@s.org quota=5 quota=6", "userlist.txt line 2: 'quota=6' is a second quota mark"),
        ("ada@s.org admin admin", "userlist.txt line 2: 'admin' is a second admin mark"),
        ("ada@s.org quota 5", "userlist.txt line 2: unexpected 'quota' after ada@s.org"),
        ("ada@s.org quota=101", "userlist.txt line 2: quota=101 is more than the whole homes"),
    ],
)
def test_a_bad_quota_mark_is_refused_with_its_line(line, expected):
    assert expected in str(refusal(f"t@s.org admin\n{line}\n", max_quota_gb=100))


def test_a_quota_as_large_as_the_volume_is_accepted():
    class_list = parse("t@s.org admin quota=100\n", max_quota_gb=100)
    assert class_list.members[0].home_quota_gb == 100


def test_homes_json_gives_each_home_its_directory_and_limit_in_bytes():
    class_list = parse("t@s.org admin quota=50\nAda.L@S.org\n")
    assert class_list.as_homes_json(default_quota_gb=10) == {
        "homes": [
            {"user": "t@s.org", "dir": "t-40s-2eorg", "limit_bytes": 50 * 1024**3},
            {"user": "ada.l@s.org", "dir": "ada-2el-40s-2eorg", "limit_bytes": 10737418240},
        ]
    }


ESCAPED = [
    ("alice@example.org", "alice-40example-2eorg"),
    ("mary-jane@x.org", "mary-2djane-40x-2eorg"),
    ("Ada", "-41da"),
    ("o'neil+camp@s.org", "o-27neil-2bcamp-40s-2eorg"),
    ("josé@é.org", "jos-c3-a9-40-c3-a9-2eorg"),
    ("李@s.org", "-e6-9d-8e-40s-2eorg"),
    ("a_b.c~d", "a-5fb-2ec-7ed"),
]


@pytest.mark.parametrize(("name", "expected"), ESCAPED)
def test_usernames_are_escaped_as_dockerspawner_names_homes(name, expected):
    assert escaped_username(name) == expected
    # DockerSpawner 14's `_escape` (images/hub/requirements.txt pins it), with the same escapism.
    assert escapism.escape(name, set(string.ascii_lowercase + string.digits), "-").lower() == (
        expected
    )


def test_escaping_never_gives_two_users_one_home():
    names = [name for name, _ in ESCAPED] + ["alice-40example-2eorg", "alice@example-2eorg"]
    assert len({escaped_username(name) for name in names}) == len(names)
