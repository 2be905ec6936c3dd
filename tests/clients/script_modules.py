"""The bootstrap scripts (scripts/<name>, run as programs, so no .py suffix) as modules, for the
tests of their parts."""

import importlib.machinery
import importlib.util

from infra.layout import PROJECT_DIR


def load_script(name: str):
    """Imports scripts/<name>."""
    path = PROJECT_DIR / "scripts" / name
    loader = importlib.machinery.SourceFileLoader(name.replace("-", "_"), str(path))
    spec = importlib.util.spec_from_loader(loader.name, loader)
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module
