"""The camp's landing page: camphub's own page of the camp's name and days, or the organizer's
folder (camphub:siteDir), published on the hub and served beside it."""

import shlex

import pytest
from program import deploy

from infra import layout
from infra.landing_page import SIGN_IN_PATH
from infra.payload import site_payload

COPY = "command:remote:CopyToRemote"


def options(step) -> list[str]:
    return shlex.split(step.inputs["create"])


@pytest.fixture
def site(tmp_path):
    folder = tmp_path / "camp-site"
    folder.mkdir()
    (folder / "index.html").write_text("<h1>Welcome to the summer camp</h1>")
    (folder / "timetable.html").write_text("<p>9:00 sign in</p>")
    return folder


def test_without_pages_of_its_own_the_camp_gets_a_page_of_its_name_days_and_sign_in(base_config):
    camp = {"name": "R&D <summer> camp", "firstDay": "2027-07-05", "lastDay": "2027-07-09"}
    deployment = deploy({**base_config, "camp": camp})
    publish = deployment.named("hub-publish-site")
    assert options(publish)[-3:] == ["--dir", layout.LANDING_PAGES_DIR, "--index-from-stdin"]
    page = publish.inputs["stdin"]
    assert "<h1>R&amp;D &lt;summer&gt; camp</h1>" in page
    assert "Monday 5 July 2027 to Friday 9 July 2027" in page
    assert f'href="{SIGN_IN_PATH}"' in page
    assert "$" not in page  # every placeholder filled


def test_a_camp_without_days_gets_a_page_without_them(deployment):
    page = deployment.named("hub-publish-site").inputs["stdin"]
    assert "<h1>Data science camp</h1>" in page
    assert 'class="days"' not in page


def test_the_organizers_folder_is_delivered_to_the_hub_and_published_from_there(base_config, site):
    deployment = deploy({**base_config, "siteDir": str(site)})
    pages = site_payload(site)
    copy = deployment.named(f"hub-payload-{site.name}", COPY)
    assert copy.inputs["remotePath"] == layout.PAYLOAD_DIR
    publish = deployment.named("hub-publish-site")
    assert options(publish)[-4:] == ["--dir", layout.LANDING_PAGES_DIR, "--from", pages.remote_dir]
    assert deployment.depends_on(publish, copy)
    assert "stdin" not in publish.inputs or not publish.inputs["stdin"]
    assert not [c for c in deployment.of_type(COPY) if c.name == f"nfs-payload-{site.name}"]


def test_a_changed_page_is_published_again_and_nothing_else_runs_for_it(base_config, site):
    before = deploy({**base_config, "siteDir": str(site)})
    (site / "timetable.html").write_text("<p>9:30 sign in</p>")
    after = deploy({**base_config, "siteDir": str(site)})
    publish_before, publish_after = (
        before.named("hub-publish-site"),
        after.named("hub-publish-site"),
    )
    assert before.own_triggers(publish_before) != after.own_triggers(publish_after)
    assert publish_before.inputs["create"] == publish_after.inputs["create"]
    # The hub is not restarted: its start step does not change.
    assert before.named("hub-start-hub").inputs == after.named("hub-start-hub").inputs


def test_nginx_serves_the_published_pages_beside_the_hub(deployment):
    words = options(deployment.named("hub-configure-nginx"))
    assert words[words.index("--landing-pages") + 1] == layout.LANDING_PAGES_DIR
    assert words[words.index("--landing-page-path") + 1] == layout.LANDING_PAGE_PATH


def test_the_stack_names_the_landing_page(deployment):
    hub_url = deployment.outputs["hubUrl"]
    assert deployment.outputs["landingPageUrl"] == hub_url.rstrip("/") + layout.LANDING_PAGE_PATH
