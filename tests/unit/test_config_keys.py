"""The table of settings is the one list of keys: README.md's Settings table shows exactly its
keys and defaults, each key names a check that exists, and no stack file restates a default."""

import re
from pathlib import Path

import pytest
from program import stack_config

import infra.config
from infra.config_keys import DEFAULTS, SETTINGS
from infra.layout import PROJECT_DIR

STACK_FILES = sorted(PROJECT_DIR.glob("Pulumi.*.yaml"))
_ROW = re.compile(r"^\| (`[^|]+`) \| ([^|]+) \|")


def readme_defaults(readme: str) -> dict[str, str]:
    """{key: default} of the README's Settings table. A row may name several members of one
    object (`workers.count`, `workers.instanceType` or `oauthEndpoints.authorizeUrl`, `.tokenUrl`)
    with one default each (`2`, `t3.xlarge`) or one for them all."""
    section = readme.split("### Settings", 1)[1].split("\n#", 1)[0]
    rows: dict[str, str] = {}
    for line in section.splitlines():
        match = _ROW.match(line)
        if not match:
            continue
        keys = [k.strip().strip("`") for k in match.group(1).split(",")]
        keys = [keys[0].split(".")[0] + k if k.startswith(".") else k for k in keys]
        default = match.group(2).strip()
        defaults = default.split(", ") if len(keys) > 1 else [default]
        if len(defaults) == 1:
            defaults *= len(keys)
        assert len(defaults) == len(keys), f"{line}: give one default, or one for each key"
        for key, each in zip(keys, defaults, strict=True):
            assert key not in rows, f"{key} is in the Settings table twice"
            rows[key] = each
    return rows


def test_the_readme_lists_every_setting_with_its_default():
    shown = readme_defaults((PROJECT_DIR / "README.md").read_text())
    expected = {s.name: s.readme_default for s in SETTINGS}
    assert shown == expected


def test_a_setting_missing_from_the_readme_is_noticed():
    readme = (PROJECT_DIR / "README.md").read_text()
    row = next(line for line in readme.splitlines() if line.startswith("| `ami` |"))
    assert "ami" not in readme_defaults(readme.replace(row + "\n", ""))


@pytest.mark.parametrize("setting", SETTINGS, ids=lambda s: s.name)
def test_each_setting_names_the_check_that_words_its_error(setting):
    assert callable(getattr(infra.config, setting.check))
    assert (setting.bounds is not None) == (setting.kind in ("whole number", "number"))


def _restated_defaults(config: dict) -> list[str]:
    restated = []
    for full, value in config.items():
        key = full.removeprefix("camphub:")
        if full == key or key not in DEFAULTS:
            continue
        if isinstance(value, dict):
            restated += [f"{key}.{m}" for m, v in value.items() if _same(v, DEFAULTS[key].get(m))]
        elif _same(value, DEFAULTS[key]):
            restated.append(key)
    return restated


def _same(value, default) -> bool:
    """Equal as the program reads it, also when `pulumi config set` stored it as text."""
    return value == default or (isinstance(value, str) and value.lower() == str(default).lower())


def test_a_restated_default_is_noticed():
    config = {"camphub:workers": {"count": 3, "instanceType": "t3.xlarge"}, "aws:region": "x"}
    assert _restated_defaults({**config, "camphub:sharedData": "false"}) == [
        "workers.instanceType",
        "sharedData",
    ]


@pytest.mark.parametrize("stack_file", STACK_FILES, ids=lambda p: p.name)
def test_no_stack_file_restates_a_default(stack_file: Path):
    assert _restated_defaults(stack_config(stack_file)) == []
