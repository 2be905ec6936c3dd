"""The class list file: emails, admins, comments, and every way a tired teacher can get it wrong."""

import pytest

from infra.errors import ConfigError
from infra.userlist import parse_class_list


def parse(text: str):
    return parse_class_list(text, "userlist.txt")


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
    with pytest.raises(ConfigError) as error:
        parse(text)
    assert expected in str(error.value)


def test_every_bad_line_is_reported_at_once():
    with pytest.raises(ConfigError) as error:
        parse("t@s.org admin\nbad-one\nbad-two\n")
    assert len(error.value.problems) == 2
