"""NotebookImage: the students' image is built once, on the hub, and every worker loads that
build from the hub over the cluster's network, checked against the ID the hub published."""

import dataclasses
import shlex
import shutil

import pytest
from program import FAKE_IMAGE_ID

from infra import layout
from infra.notebook_image import publication
from infra.payload import HUB_IMAGE, NOTEBOOK_IMAGE, PROXY_IMAGE, VENV_BUILDER, image_tag

WORKERS = ("workers-0", "workers-1")
SUBNET_CIDR = layout.SUBNET_CIDR  # the camp's own subnet


def arguments(step) -> dict[str, str]:
    """A step's `--option value` pairs."""
    words = shlex.split(step.inputs["create"])
    return dict(zip(words[3::2], words[4::2], strict=True))


def test_the_hub_builds_the_image_from_its_context_and_no_worker_builds(deployment):
    builds = [
        c
        for c in deployment.of_type("command:remote:Command")
        if f"build-image --context {NOTEBOOK_IMAGE.remote_dir}" in c.inputs["create"]
    ]
    assert [b.name for b in builds] == ["hub-notebook-image"]
    assert arguments(builds[0])["--tag"] == image_tag(NOTEBOOK_IMAGE)
    copies = {c.name for c in deployment.of_type("command:remote:CopyToRemote")}
    assert "hub-payload-notebook" in copies
    assert not {f"{worker}-payload-notebook" for worker in WORKERS} & copies


@pytest.mark.parametrize("name", ["hub-notebook-image", "hub-hub-image"])
def test_the_hub_builds_the_python_images_on_the_venv_builder_it_builds_first(deployment, name):
    build = arguments(deployment.named(name))
    assert build["--builder-context"] == VENV_BUILDER.remote_dir
    assert build["--builder-tag"] == image_tag(VENV_BUILDER)
    assert "--builder-tag" not in arguments(deployment.named("hub-proxy-image"))
    assert "hub-payload-venv-builder" in {
        c.name for c in deployment.of_type("command:remote:CopyToRemote")
    }


def test_a_changed_builder_is_a_changed_python_image_and_leaves_the_proxy_alone(tmp_path):
    builder = tmp_path / VENV_BUILDER.name
    shutil.copytree(VENV_BUILDER.local_dir, builder)
    with (builder / "make-venv").open("a") as script:
        script.write("# changed\n")
    changed = dataclasses.replace(VENV_BUILDER, local_dir=builder)
    for image in (NOTEBOOK_IMAGE, HUB_IMAGE):
        assert image_tag(dataclasses.replace(image, builder=changed)) != image_tag(image)
    assert PROXY_IMAGE.builder is None


def test_the_hub_publishes_the_build_it_made_and_serves_it_to_the_subnet_only(deployment):
    built, served = deployment.named("hub-notebook-image"), deployment.named("hub-serve-images")
    published = deployment.named("hub-publish-notebook-image")
    assert deployment.depends_on(published, built) and deployment.depends_on(published, served)
    assert arguments(published) == {
        "--tag": image_tag(NOTEBOOK_IMAGE),
        "--dir": layout.IMAGES_DIR,
    }
    site = arguments(served)
    assert site["--port"] == str(layout.IMAGES_PORT)
    assert site["--dir"] == layout.IMAGES_DIR
    assert site["--allow"] == SUBNET_CIDR


def test_every_worker_loads_the_published_image_from_the_hubs_private_address(deployment):
    hub_address = arguments(deployment.named("hub-swarm-init"))["--advertise-addr"]
    published = deployment.named("hub-publish-notebook-image")
    for worker in WORKERS:
        load = deployment.named(f"{worker}-notebook-image")
        assert "fetch-image" in load.inputs["create"]
        assert arguments(load) == {
            "--url": f"http://{hub_address}:{layout.IMAGES_PORT}/camphub-notebook-0123456789ab.tar",
            "--tag": image_tag(NOTEBOOK_IMAGE),
            "--image-id": FAKE_IMAGE_ID,
        }
        assert deployment.depends_on(load, published), worker


def test_a_worker_joins_the_swarm_only_once_it_has_the_image(deployment):
    for worker in WORKERS:
        join = deployment.named(f"{worker}-swarm-join")
        assert deployment.depends_on(join, deployment.named(f"{worker}-notebook-image")), worker


def test_the_hub_runs_servers_of_the_shipped_tag(deployment):
    start = deployment.named("hub-start-hub")
    assert f'"image": "{image_tag(NOTEBOOK_IMAGE)}"' in start.inputs["stdin"]


def test_publish_images_report_gives_the_id_and_the_archive():
    report = f"{FAKE_IMAGE_ID} camphub-notebook-0123456789ab.tar\n"
    assert publication(report) == (FAKE_IMAGE_ID, "camphub-notebook-0123456789ab.tar")
    assert publication("") == ("", "")


@pytest.mark.parametrize("report", ["published camphub/notebook:x", "sha256:12 a.tar"])
def test_an_unexpected_publish_report_is_an_error_that_quotes_it(report):
    with pytest.raises(ValueError, match="publish-image printed"):
        publication(report)
