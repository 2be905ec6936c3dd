"""The rehearsal's state file on its own (no Docker): what makes a second `rehearse up` run
nothing, and `down` delete dependents first."""

import os
import stat

import pulumi

from rehearsal.state import Record, State, digest_of


def record(name: str, **inputs) -> Record:
    return Record("command:remote:Command", name, f"id-{name}", digest_of(inputs), inputs, {})


def test_digest_follows_the_content_of_copied_files(tmp_path):
    payload = tmp_path / "payload"
    payload.mkdir()
    (payload / "script").write_text("echo one\n")
    before = digest_of({"source": pulumi.FileArchive(str(payload))})
    assert digest_of({"source": pulumi.FileArchive(str(payload))}) == before
    (payload / "script").write_text("echo two\n")
    assert digest_of({"source": pulumi.FileArchive(str(payload))}) != before


def test_digest_ignores_key_order_and_sees_every_value():
    assert digest_of({"a": 1, "b": [1, 2]}) == digest_of({"b": [1, 2], "a": 1})
    assert digest_of({"a": 1, "b": [1, 2]}) != digest_of({"a": 1, "b": [2, 1]})


def test_records_keep_this_runs_order_after_the_ones_it_dropped(tmp_path):
    path = tmp_path / "state.json"
    first = State(path)
    for name in ("machine", "mount", "extra", "hub"):
        first.put(record(name))
    second = State(path)
    for name in ("machine", "hub", "mount"):
        previous = second.previous("command:remote:Command", name)
        assert previous is not None and previous.id == f"id-{name}"
        second.put(previous)
    assert [r.name for r in second.orphans()] == ["extra"]
    assert [r.name for r in second.records()] == ["extra", "machine", "hub", "mount"]


def test_forgotten_records_are_gone_from_the_file(tmp_path):
    path = tmp_path / "state.json"
    state = State(path)
    state.put(record("kept"))
    state.put(record("dropped"))
    state.forget(record("dropped"))
    assert [r.name for r in State(path).records()] == ["kept"]


def test_state_file_is_readable_by_its_owner_only(tmp_path):
    state = State(tmp_path / "state.json")
    state.put(record("secretive", stdin="a secret"))
    mode = stat.S_IMODE(os.stat(tmp_path / "state.json").st_mode)
    assert mode == 0o600
