"""A changed cloud-init file stops no machine: every instance ignores a change of its user-data,
and `pulumi up` warns, naming for each machine still on the old user-data the command that
replaces it (infra/machine.py).

What the engine does with `ignore_changes` is played here as Pulumi's does it (its step generator:
an ignored input keeps its value from the last run's state, so the resource's user_data output
stays the one it was made with; `pulumi up --replace` takes the program's value instead)."""

import hashlib
import logging
import shlex
import shutil

import pytest
from google.protobuf import struct_pb2
from program import Deployment, RecordingMonitor, deploy

from infra import userdata
from infra.machine import made_with as document_made_with
from infra.machine import user_data_warning
from rehearsal.ec2_instance_changes import changed_inputs, how_ec2_applies

INSTANCE = "aws:ec2/instance:Instance"
REPLACE_COMMAND = "pulumi up --replace"


class EngineWithState(RecordingMonitor):
    """The monitor as the engine answers it with a state from the last run (`previous`): an
    input named in `ignore_changes` takes its recorded value, top-level names only (all the
    program uses)."""

    def __init__(self, mocks, deployment: Deployment, previous: Deployment):
        super().__init__(mocks, deployment)
        self._previous = {r.urn: r.raw_inputs for r in previous.resources}

    def RegisterResource(self, request):
        recorded = self._previous.get(self._urn(request), {})
        for key in request.ignoreChanges:
            if key in recorded:
                value = struct_pb2.Value()
                value.string_value = recorded[key]  # user-data and AMI ids are strings
                request.object.fields[key].CopyFrom(value)
        return super().RegisterResource(request)

    def _urn(self, request) -> str:
        return self.make_urn(request.parent, request.type, request.name)


def deploy_after(previous: Deployment, config: dict) -> Deployment:
    """The program deployed again over the state `previous` left."""
    return deploy(config, monitor=lambda mocks, new: EngineWithState(mocks, new, previous))


@pytest.fixture
def cloud_init_copy(tmp_path, monkeypatch):
    """The project's cloud-init/ files, copied where a test may change them."""
    copy = tmp_path / "cloud-init"
    shutil.copytree(userdata.CLOUD_INIT_DIR, copy)
    monkeypatch.setattr(userdata, "CLOUD_INIT_DIR", copy)
    monkeypatch.setattr(userdata, "FILES_DIR", copy / "files")
    return copy


def change_worker_cloud_init(cloud_init_dir) -> None:
    worker = cloud_init_dir / "worker.yaml"
    worker.write_text(worker.read_text() + "\nbootcmd:\n  - [echo, a fix for the workers]\n")


def replace_warnings(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if REPLACE_COMMAND in r.getMessage()]


def made_with(deployment: Deployment) -> dict[str, str]:
    """Each instance's user-data as the engine keeps it."""
    return {i.name: i.inputs["userDataBase64"] for i in deployment.of_type(INSTANCE)}


def test_every_instance_ignores_a_changed_user_data_and_a_newer_ami(deployment):
    for instance in deployment.of_type(INSTANCE):
        ignored = {"userDataBase64", "userData", "ami"}  # userData: as an earlier program gave it
        assert ignored <= set(instance.ignore_changes), instance.name
        # Were it not ignored, a change would stop the machine; it never replaces it unasked.
        assert instance.inputs["userDataReplaceOnChange"] is False


def test_a_changed_worker_file_keeps_each_worker_on_its_user_data_and_names_its_replace_command(
    base_config, cloud_init_copy, caplog
):
    first = deploy(base_config)
    change_worker_cloud_init(cloud_init_copy)
    caplog.set_level(logging.WARNING)
    second = deploy_after(first, base_config)

    assert made_with(second) == made_with(first)
    warnings = replace_warnings(caplog)
    workers = [i for i in second.of_type(INSTANCE) if i.name.startswith("workers-")]
    assert len(warnings) == len(workers) == 2
    for worker in workers:
        command = f"{REPLACE_COMMAND} {shlex.quote(worker.urn)}"
        assert any(w.startswith(f"{worker.name}: ") and w.endswith(command) for w in warnings)


def test_unchanged_cloud_init_files_give_no_warning(base_config, caplog):
    first = deploy(base_config)
    caplog.set_level(logging.WARNING)
    deploy_after(first, base_config)
    assert replace_warnings(caplog) == []


def test_the_user_data_warning_tells_what_happened_and_quotes_the_urn_for_the_shell():
    urn = "urn:pulumi:camp::camphub::camphub:index:Hub$aws:ec2/instance:Instance::hub"
    warning = user_data_warning("hub", "#cloud-config\nold: 1\n", "#cloud-config\nnew: 1\n", urn)
    assert warning.startswith("hub: its cloud-init files changed since the machine was made")
    assert "EC2 would stop it" in warning
    assert warning.endswith(f"{REPLACE_COMMAND} '{urn}'")


def test_the_same_user_data_gives_no_warning_in_either_form_the_state_keeps():
    wanted = userdata.render_user_data("nfs")
    sha1 = hashlib.sha1(wanted.encode()).hexdigest()  # as pulumi-aws before 7.0 kept it
    assert user_data_warning("nfs", wanted, wanted, "urn") is None
    assert user_data_warning("nfs", sha1, wanted, "urn") is None
    assert user_data_warning("nfs", None, wanted, "urn") is None  # not known yet (a preview)


def test_the_document_a_machine_was_made_with_is_read_in_either_form_the_program_gave():
    wanted = userdata.render_user_data("worker")
    assert document_made_with(userdata.compressed_user_data(wanted), None) == wanted
    assert document_made_with(None, wanted) == wanted  # before the program gzipped it
    assert document_made_with(None, None) is None


def test_the_local_cloud_knows_how_ec2_applies_a_change_of_every_input_the_program_sets(deployment):
    for instance in deployment.of_type(INSTANCE):
        for name in changed_inputs({}, instance.inputs):
            how_ec2_applies(name, instance.inputs)  # raises for an input it does not know
