"""The rehearsal's Google stand-in as `rehearse up` runs it: detached, on the same port for the
rehearsal's life (the hub's settings name it), reused while it answers, restarted when it died,
and never mistaken for another program that took over its recorded pid."""

import subprocess
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from rehearsal import google_stand_in

LOOPBACK = "127.0.0.1"


@pytest.fixture
def work_dir(tmp_path):
    yield tmp_path
    google_stand_in.stop_recorded(tmp_path)


def test_a_running_stand_in_is_reused(work_dir):
    first = google_stand_in.ensure_running(work_dir, LOOPBACK)
    assert google_stand_in.ensure_running(work_dir, LOOPBACK) == first
    assert first.answers()


def test_a_dead_stand_in_is_restarted_on_its_port_and_takes_users_again(work_dir):
    first = google_stand_in.ensure_running(work_dir, LOOPBACK)
    first.stop()
    assert not first.answers()

    second = google_stand_in.ensure_running(work_dir, LOOPBACK)

    assert second.base_url == first.base_url
    assert second.pid != first.pid
    second.add_user("ada@camp.example.org")
    assert (
        _userinfo_after_sign_in(second, "ada@camp.example.org")["email"] == "ada@camp.example.org"
    )


def test_a_stand_in_on_an_address_the_rehearsal_left_is_stopped(work_dir):
    on_old_network = google_stand_in.ensure_running(work_dir, LOOPBACK)
    on_new_network = google_stand_in.ensure_running(work_dir, "127.0.0.2")
    assert not on_old_network.answers()
    assert on_new_network.answers()


def test_stop_leaves_another_program_with_the_recorded_pid_alone(work_dir):
    google = google_stand_in.ensure_running(work_dir, LOOPBACK)
    google.stop()
    bystander = subprocess.Popen(["sleep", "60"])
    try:
        impostor = google_stand_in.GoogleStandIn(google.base_url, bystander.pid, google.log_path)
        impostor.stop()
        assert bystander.poll() is None, "stop() ended a program that is not the stand-in"
    finally:
        bystander.kill()
        bystander.wait()


def test_the_stand_in_answers_in_googles_userinfo_shape(work_dir):
    google = google_stand_in.ensure_running(work_dir, LOOPBACK)
    google.add_user("grace@school.example.org")
    assert _userinfo_after_sign_in(google, "grace@school.example.org") == {
        "sub": "grace@school.example.org",
        "email": "grace@school.example.org",
        "verified_email": True,
        "hd": "school.example.org",
    }


def _userinfo_after_sign_in(google: google_stand_in.GoogleStandIn, email: str) -> dict:
    """The authorization-code flow GoogleOAuthenticator runs, without a browser."""
    callback = "http://hub.test/hub/oauth_callback"
    client = {"client_id": "camphub", "redirect_uri": callback}
    authorized = requests.post(
        google.authorize_url,
        params={**client, "response_type": "code", "scope": "openid email", "state": "s"},
        data={"sub": email},
        allow_redirects=False,
        timeout=10,
    )
    assert authorized.status_code == 302, authorized.text
    code = parse_qs(urlsplit(authorized.headers["Location"]).query)["code"][0]
    token = requests.post(
        google.token_url,
        data={**client, "grant_type": "authorization_code", "code": code},
        auth=("camphub", "secret"),
        timeout=10,
    )
    token.raise_for_status()
    headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
    userinfo = requests.get(google.userdata_url, headers=headers, timeout=10)
    userinfo.raise_for_status()
    return userinfo.json()
