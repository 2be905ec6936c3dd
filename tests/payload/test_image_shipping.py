"""Shipping the notebook image: the hub builds and publishes it (publish-image), serves the archive
read only to the camp's subnet (serve-images, the real nginx site), and a worker loads it and
checks its ID (fetch-image). Two checker machines, each with its own Docker engine."""

import uuid

import payload_checker
import pytest
from payload_checker import address_of, load_base_image

from infra import layout
from infra.notebook_image import IMAGES_SITE_TEMPLATE, publication
from infra.payload import NGINX

pytestmark = pytest.mark.live

# The checker has the project at /payload; the program delivers nginx/ to the payload dir.
TEMPLATE = IMAGES_SITE_TEMPLATE.replace(NGINX.remote_dir, f"{payload_checker.PROJECT_MOUNT}/nginx")


@pytest.fixture(scope="module")
def hub_and_worker():
    with payload_checker.machines_with_docker("hub", "worker") as (hub, worker):
        load_base_image(hub)
        yield hub, worker


def build(hub, label: str) -> str:
    """A small image built on the hub with build-image, as the program builds the notebook's."""
    context = f"/tmp/context-{label}"
    hub.write(f"{context}/Dockerfile", f"FROM debian:trixie-slim\nRUN echo {label} > /label\n")
    tag = f"camphub/shipped:{label}"
    hub.script("build-image", "--context", context, "--tag", tag)
    return tag


def serve(hub, allowed: str) -> str:
    return hub.script(
        "serve-images", "--port", str(layout.IMAGES_PORT), "--allow", allowed,
        "--dir", layout.IMAGES_DIR, "--template", TEMPLATE,
    ).stdout  # fmt: skip


def image_id(machine, tag: str) -> str:
    inspected = machine.run("docker", "image", "inspect", "--format", "{{.Id}}", tag, check=False)
    return inspected.stdout.strip()


def fetch(worker, url: str, tag: str, expected_id: str, check: bool = True):
    return worker.script(
        "fetch-image", "--url", url, "--tag", tag, "--image-id", expected_id, check=check
    )


def http_status(client, url: str, method: str = "GET") -> str:
    how = ("--head",) if method == "HEAD" else ("--request", method)
    return client.run(
        "curl", "--silent", "--output", "/dev/null", "--write-out", "%{http_code}", *how, url,
    ).stdout  # fmt: skip


@pytest.fixture(scope="module")
def published(hub_and_worker):
    """The hub serving to the worker's address alone, with a first image published."""
    hub, worker = hub_and_worker
    assert "nginx reloaded" in serve(hub, f"{address_of(worker)}/32")
    tag = build(hub, f"first-{uuid.uuid4().hex[:6]}")
    report = hub.script("publish-image", "--tag", tag, "--dir", layout.IMAGES_DIR).stdout
    expected_id, archive = publication(report)
    url = f"http://{address_of(hub)}:{layout.IMAGES_PORT}/{archive}"
    return tag, expected_id, url


def test_the_published_id_is_the_built_image_and_publishing_again_writes_nothing(
    hub_and_worker, published
):
    hub, _ = hub_and_worker
    tag, expected_id, _ = published
    assert expected_id == image_id(hub, tag)
    again = hub.script("publish-image", "--tag", tag, "--dir", layout.IMAGES_DIR)
    assert publication(again.stdout)[0] == expected_id
    assert "already published" in again.stderr


def test_serving_again_changes_nothing(hub_and_worker, published):
    hub, worker = hub_and_worker
    assert serve(hub, f"{address_of(worker)}/32") == "serve-images: nothing changed\n"


def test_a_worker_loads_the_hubs_image_under_its_id_once(hub_and_worker, published):
    _, worker = hub_and_worker
    tag, expected_id, url = published
    assert image_id(worker, tag) == ""
    assert fetch(worker, url, tag, expected_id).stdout == (
        f"fetch-image: loaded {tag} ({expected_id})\n"
    )
    assert image_id(worker, tag) == expected_id
    label = worker.run("docker", "run", "--rm", tag, "cat", "/label").stdout
    assert label.startswith("first-")
    assert fetch(worker, url, tag, expected_id).stdout == (
        f"fetch-image: {tag} already loaded ({expected_id})\n"
    )


def test_an_archive_that_is_not_the_published_image_is_refused_and_left_untagged(
    hub_and_worker, published
):
    _, worker = hub_and_worker
    tag, _, url = published
    other_tag = tag.replace("camphub/shipped", "camphub/refused")
    worker.run("docker", "image", "rm", "--force", other_tag, check=False)
    wrong_id = "sha256:" + "0" * 64
    # The same archive, asked for under an ID the hub never published.
    refused = fetch(worker, url, tag, wrong_id, check=False)
    assert refused.returncode != 0
    assert f"not the published {wrong_id}" in refused.stderr
    assert image_id(worker, tag) == ""


def test_the_archives_are_read_only_and_only_for_the_allowed_addresses(hub_and_worker, published):
    hub, worker = hub_and_worker
    _, _, url = published
    assert http_status(worker, url, "HEAD") == "200"
    for method in ("PUT", "POST", "DELETE"):
        assert http_status(worker, url, method) == "403", method
    # The hub's own address is outside the allowed range: refused like any other stranger.
    assert http_status(hub, url) == "403"
    listing = url.rsplit("/", 1)[0] + "/"
    assert http_status(worker, listing) in ("403", "404")


def test_a_new_image_replaces_the_archive_of_the_earlier_one(hub_and_worker, published):
    hub, worker = hub_and_worker
    _, _, first_url = published
    second_tag = build(hub, f"second-{uuid.uuid4().hex[:6]}")
    report = hub.script("publish-image", "--tag", second_tag, "--dir", layout.IMAGES_DIR)
    second_id, archive = publication(report.stdout)
    assert f"removed {first_url.rsplit('/', 1)[1]}" in report.stderr
    listed = hub.run("ls", layout.IMAGES_DIR).stdout.split()
    assert sorted(listed) == sorted([archive, archive.removesuffix(".tar") + ".id"])
    url = f"http://{address_of(hub)}:{layout.IMAGES_PORT}/{archive}"
    fetch(worker, url, second_tag, second_id)
    assert image_id(worker, second_tag) == second_id
    assert http_status(worker, first_url) == "404"


def test_publishing_an_image_the_hub_lacks_names_the_missing_build(hub_and_worker):
    hub, _ = hub_and_worker
    missing = hub.script(
        "publish-image", "--tag", "camphub/shipped:never-built", "--dir", layout.IMAGES_DIR,
        check=False,
    )  # fmt: skip
    assert missing.returncode != 0
    assert "no image camphub/shipped:never-built here: build it first" in missing.stderr
