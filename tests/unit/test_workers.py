"""SwarmWorkerPool, in the whole program: joins with the secret token, loads the notebook image."""

import json

from program import FAKE_JOIN_TOKEN, deploy

from infra import layout
from infra.payload import NOTEBOOK_IMAGE, VENV_BUILDER, content_hash


def test_the_pool_has_as_many_workers_as_configured(base_config):
    deployment = deploy({**base_config, "workers": {"count": 4}})
    names = sorted(i.name for i in deployment.of_type("aws:ec2/instance:Instance"))
    assert names == ["hub", "nfs", "workers-0", "workers-1", "workers-2", "workers-3"]


def test_workers_join_with_the_token_on_stdin_marked_secret(deployment):
    for index in (0, 1):
        join = deployment.named(f"workers-{index}-swarm-join")
        assert join.inputs["stdin"].strip() == FAKE_JOIN_TOKEN
        assert join.is_secret("stdin")
        assert FAKE_JOIN_TOKEN not in join.inputs["create"]


def test_workers_join_at_the_swarm_managers_port(deployment):
    for index in (0, 1):
        join = deployment.named(f"workers-{index}-swarm-join")
        assert f"--manager-port {layout.SWARM_MANAGER_PORT} " in join.inputs["create"]


def test_workers_are_reached_through_the_hub_only(deployment):
    for index in (0, 1):
        connection = deployment.named(f"workers-{index}-cloud-init").inputs["connection"]
        assert connection["proxy"]["host"] == "203.0.113.10"


def test_the_notebook_image_is_tagged_by_the_content_of_its_build_context_and_builder(deployment):
    tag = f"camphub/notebook:{content_hash(NOTEBOOK_IMAGE.local_dir, VENV_BUILDER.local_dir)}"
    for index in (0, 1):
        load = deployment.named(f"workers-{index}-notebook-image").inputs["create"]
        assert f"--tag {tag}" in load
    settings = json.loads(deployment.named("hub-start-hub").inputs["stdin"])
    assert settings["notebook"]["image"] == tag


def test_the_content_hash_changes_with_any_file(tmp_path):
    (tmp_path / "Dockerfile").write_text("FROM debian\n")
    before = content_hash(tmp_path)
    (tmp_path / "Dockerfile").write_text("FROM debian:trixie\n")
    assert content_hash(tmp_path) != before


def test_students_internet_follows_exam_mode_before_a_worker_joins(base_config, deployment):
    for index in (0, 1):
        switch = deployment.named(f"workers-{index}-student-internet")
        assert switch.inputs["create"] == "sudo /usr/local/sbin/camphub-wall internet on"
        join = deployment.named(f"workers-{index}-swarm-join")
        assert deployment.depends_on(join, switch)
    exam = deploy({**base_config, "notebook": {"internet": False}})
    switch = exam.named("workers-0-student-internet")
    assert switch.inputs["create"] == "sudo /usr/local/sbin/camphub-wall internet off"


def test_the_hub_keeps_the_internet_google_sign_in_needs(deployment):
    assert not [
        c
        for c in deployment.of_type("command:remote:Command")
        if "camphub-wall" in str(c.inputs.get("create")) and c.name.startswith("hub-")
    ]


def test_each_worker_joins_the_initialised_swarm_and_is_drained_on_the_manager(deployment):
    # The pool knows the hub only as the SwarmManager it declares.
    on_hub = deployment.named("hub-swarm-init").inputs["connection"]
    pool = deployment.named("workers", typ="camphub:index:SwarmWorkerPool")
    for index in (0, 1):
        join = deployment.named(f"workers-{index}-swarm-join")
        assert deployment.depends_on(join, deployment.named("hub-swarm-init"))
        membership = deployment.named(f"hub-workers-{index}-membership")
        assert membership.parent == pool.urn
        assert membership.inputs["connection"] == on_hub
        node = f"node-workers-{index}-swarm-join"
        assert f"swarm-remove-node --node-id {node}" in membership.inputs["delete"]
        # Deleted before the worker's instance: the engine removes dependents first.
        assert deployment.depends_on(membership, deployment.named(f"workers-{index}"))
