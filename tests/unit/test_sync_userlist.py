"""sync-userlist's pure parts: reading the class list and planning the hub's changes."""

import json

import pytest
from script_modules import load_script

sync = load_script("sync-userlist")


def class_list_json(*users: tuple[str, bool]) -> str:
    return json.dumps({"users": [{"name": name, "admin": admin} for name, admin in users]})


def test_names_are_lower_cased_and_admin_flags_kept():
    text = class_list_json(("Alice@Example.org", False), ("teacher@example.org", True))
    assert sync.parse_class_list(text) == {"alice@example.org": False, "teacher@example.org": True}


def test_admin_defaults_to_false():
    assert sync.parse_class_list('{"users": [{"name": "a@b.org"}]}') == {"a@b.org": False}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("not json", "not JSON"),
        ('{"users": []}', "must be"),
        ('{"people": [{"name": "a@b.org"}]}', "must be"),
        ('{"users": [{"name": "alice"}]}', "entry 1 needs an email"),
        ('{"users": [{"name": "a@b.org", "admin": "yes"}]}', "entry 1 needs an email"),
        (
            class_list_json(("a@b.org", False), ("A@B.org", True)),
            "entry 2: a@b.org is listed twice",
        ),
    ],
)
def test_malformed_class_lists_are_refused(text, message):
    with pytest.raises(sync.SyncError, match=message):
        sync.parse_class_list(text)


def test_an_unchanged_class_plans_nothing():
    current = {"a@x.org": False, "t@x.org": True}
    plan = sync.plan_changes(dict(current), current)
    assert plan.is_empty()
    assert plan.describe() == "nothing changed"


def test_every_kind_of_change_is_planned():
    wanted = {"new@x.org": False, "newadmin@x.org": True, "up@x.org": True, "down@x.org": False}
    current = {"up@x.org": False, "down@x.org": True, "gone@x.org": False}
    plan = sync.plan_changes(wanted, current)
    assert plan == sync.Plan(
        add_students=("new@x.org",),
        add_admins=("newadmin@x.org",),
        promote=("up@x.org",),
        demote=("down@x.org",),
        remove=("gone@x.org",),
    )
    assert plan.describe() == (
        "added new@x.org, newadmin@x.org; promoted up@x.org; demoted down@x.org; removed gone@x.org"
    )


def test_planned_changes_applied_to_the_hub_give_the_class_list():
    wanted = {f"s{i}@x.org": i % 3 == 0 for i in range(40)}
    current = {f"s{i}@x.org": i % 2 == 0 for i in range(20, 60)}
    plan = sync.plan_changes(wanted, current)
    result = {n: a for n, a in current.items() if n not in plan.remove}
    result |= {n: False for n in plan.add_students} | {n: True for n in plan.add_admins}
    result |= {n: True for n in plan.promote} | {n: False for n in plan.demote}
    assert result == wanted
    assert sync.plan_changes(wanted, result).is_empty()


def test_the_userlist_file_is_written_once_with_stable_bytes(tmp_path):
    path = tmp_path / "userlist.json"
    class_list = {"b@x.org": False, "a@x.org": True}
    assert sync.write_userlist(path, class_list) is True
    assert sync.write_userlist(path, dict(reversed(class_list.items()))) is False
    assert json.loads(path.read_text())["users"][0] == {"name": "a@x.org", "admin": True}
    assert path.stat().st_mode & 0o777 == 0o644


def test_a_missing_token_names_the_step_that_installs_it(tmp_path):
    with pytest.raises(sync.SyncError, match="userlist_sync_token is missing: run install-secrets"):
        sync.read_token(tmp_path)
