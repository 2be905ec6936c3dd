"""Where every benchmark keeps its raw results: bench/results/<name>-<UTC time of the run>.json."""

import json
from pathlib import Path

RESULTS_DIR = Path(__file__).resolve().parent / "results"


def save(report: dict, name: str) -> Path:
    """Writes `report` (its "date" the run's ISO time in UTC) as results/<name>-<time>.json."""
    RESULTS_DIR.mkdir(exist_ok=True)
    stamp = report["date"].replace(":", "").replace("+0000", "Z")
    path = RESULTS_DIR / f"{name}-{stamp}.json"
    path.write_text(json.dumps(report, indent=1) + "\n")
    return path
