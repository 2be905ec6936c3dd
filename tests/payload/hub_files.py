"""The hub machine's files under a test's directory instead of /etc/camphub and
/var/lib/camphub: etc (settings, class list, secrets), state and homes; and the settings
sections that name them there."""

from pathlib import Path

import camphub_settings as schema

from infra.hub_settings import homes_at


class HubFiles:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.etc_dir = root / "etc"
        self.settings_file = self.etc_dir / "hub-settings.json"
        self.userlist_file = self.etc_dir / "userlist.json"
        self.secrets_dir = self.etc_dir / "secrets"
        self.state_dir = root / "state"
        self.homes_dir = root / "homes"

    def secret(self, name: str) -> Path:
        return self.secrets_dir / name

    def settings_sections(self) -> dict:
        """The homes and paths sections for these files, as changes to sample_settings."""
        return {
            "homes": homes_at(str(self.homes_dir)),
            "paths": schema.Paths(
                userlist=str(self.userlist_file), secrets_dir=str(self.secrets_dir)
            ),
        }

    def start_hub_options(self) -> list[str]:
        """start-hub's options that name these files (the rest name images, containers and
        ports)."""
        return [
            "--proxy-token-file", str(self.secret(schema.PROXY_AUTH_TOKEN)),
            "--settings-file", str(self.settings_file),
            "--state-dir", str(self.state_dir), "--homes-dir", str(self.homes_dir),
            "--etc-dir", str(self.etc_dir), "--secrets-dir", str(self.secrets_dir),
        ]  # fmt: skip
