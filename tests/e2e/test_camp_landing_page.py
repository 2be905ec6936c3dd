"""The camp's landing page on the rehearsed camp: what its address shows, over the hub's own
certificate, and the organizer's own pages (camphub:siteDir), published by `up` with nothing
restarted."""

import pytest
import requests

from infra.landing_page import SIGN_IN_PATH

pytestmark = pytest.mark.live


def fetched(url: str, ca_file) -> requests.Response:
    """`url` as a browser gets it: redirects followed, the certificate checked for its name."""
    response = requests.get(url, verify=str(ca_file), timeout=30)
    response.raise_for_status()
    return response


def test_the_camps_address_shows_its_page_over_a_certificate_valid_for_its_name(camp, ca_file):
    outputs = camp.outputs
    page = fetched(outputs["hubUrl"], ca_file)
    assert page.url == outputs["landingPageUrl"]
    assert "<h1>Data science camp</h1>" in page.text
    assert f'href="{SIGN_IN_PATH}"' in page.text
    sign_in = fetched(outputs["hubUrl"].rstrip("/") + SIGN_IN_PATH, ca_file)
    assert "Sign in with Google" in sign_in.text


def test_the_organizers_pages_are_published_by_up_and_nothing_restarts(camp, ca_file, tmp_path):
    site = tmp_path / "camp-site"
    site.mkdir()
    (site / "index.html").write_text("<h1>Welcome to camp</h1>")
    camp.up(settings={"siteDir": str(site)})
    url = camp.outputs["landingPageUrl"]
    assert fetched(url, ca_file).text == "<h1>Welcome to camp</h1>"
    hub_started = camp.hub_container_started_at()
    nginx_started = camp.run("systemctl show --property=ExecMainStartTimestamp nginx.service")

    (site / "index.html").write_text('<h1>Welcome to camp</h1><a href="timetable.html">When</a>')
    (site / "timetable.html").write_text("<p>Monday 9:00: sign in</p>")
    camp.up(settings={"siteDir": str(site)})

    assert fetched(url, ca_file).text.endswith('<a href="timetable.html">When</a>')
    assert fetched(url + "timetable.html", ca_file).text == "<p>Monday 9:00: sign in</p>"
    assert camp.hub_container_started_at() == hub_started
    assert camp.run("systemctl show --property=ExecMainStartTimestamp nginx.service") == (
        nginx_started
    )
