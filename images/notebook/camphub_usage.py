"""A student's disk use against their home's limit, in jupyter-resource-usage's status bar item.

jupyter-resource-usage measures disk with statvfs of a path, and statvfs of a home (a btrfs
subvolume with a qgroup limit, over NFS) shows the whole homes volume, not the student's limit
(measured: `df` in a subvolume limited to 100M shows the whole filesystem). Nothing maintained
reads a qgroup, so the NFS server measures each home and publishes the figures in the student's
container (contract: notes of issue 15):

    /srv/camp/usage/usage.json   {"used_bytes": int, "limit_bytes": int | null, "updated": "..."}

This server extension answers jupyter-resource-usage's own metrics API (/api/metrics/v1) with
that file's disk figures, everything else (memory against MEM_LIMIT, its settings) unchanged.
Without the file (a home made before limits) or without a limit it adds nothing: the status bar
shows no disk figure rather than the whole volume's, and never an error.
"""

import json
from pathlib import Path

from jupyter_resource_usage.api import ApiHandler
from jupyter_server.utils import url_path_join

USAGE_FILE = Path("/srv/camp/usage/usage.json")


def home_usage(path: Path = USAGE_FILE) -> tuple[int, int] | None:
    """(used, limit) in bytes from the NFS server's file, or None if it gives no limit."""
    try:
        usage = json.loads(path.read_bytes())
        used, limit = usage["used_bytes"], usage["limit_bytes"]
    except (OSError, ValueError, TypeError, KeyError):
        return None
    if type(used) is not int or type(limit) is not int or used < 0 or limit <= 0:
        return None
    return used, limit


class HomeUsageHandler(ApiHandler):
    """jupyter-resource-usage's metrics, with the disk figures of the student's home."""

    def write(self, chunk):
        # ApiHandler.get writes its metrics once, as a JSON string; only that is amended.
        usage = home_usage() if isinstance(chunk, str) else None
        if usage is not None:
            metrics = json.loads(chunk)
            used, limit = usage
            # The same fields and warning rule as jupyter-resource-usage's own disk tracking.
            metrics.update(disk_used=used, disk_total=limit)
            disk = {"disk": limit}
            config = self.settings["jupyter_resource_usage_display_config"]
            threshold = config.disk_warning_threshold
            if threshold:
                disk["warn"] = (limit - used) < limit * threshold
            metrics["limits"]["disk"] = disk
            chunk = json.dumps(metrics)
        super().write(chunk)


def _jupyter_server_extension_points():
    return [{"module": "camphub_usage"}]


def _load_jupyter_server_extension(server_app):
    # The server loads extensions in alphabetical order and tornado answers with the first
    # handler that matches, so this one, loaded before jupyter_resource_usage, takes its URL.
    url = url_path_join(server_app.web_app.settings["base_url"], "/api/metrics/v1")
    server_app.web_app.add_handlers(".*", [(url, HomeUsageHandler)])
