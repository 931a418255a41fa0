"""``papra-pipeline dashboard``: a Streamlit app over the readers' file, served on loopback.

Streamlit is an optional extra (``papra-pipeline[dashboard]``), so this module only starts it;
the pages are in :mod:`papra_pipeline.dashboard.app`, which Streamlit runs as a script.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

APP = Path(__file__).with_name("app.py")
INSTALL_HINT = (
    "error: the dashboard needs its extra, best in an environment apart from the syncs': "
    "pip install 'papra-pipeline[dashboard]' (see the README's Dashboard section)"
)

# Offline and quiet: no usage statistics sent, no browser opened, no file watcher, the
# toolbar without the developer's menu, and only warnings and errors logged.
STREAMLIT_OPTIONS = {
    "logger.level": "warning",
    "server.headless": "true",
    "browser.gatherUsageStats": "false",
    "server.fileWatcherType": "none",
    "server.runOnSave": "false",
    "global.developmentMode": "false",
    "client.toolbarMode": "viewer",
}


def streamlit_installed() -> bool:
    return importlib.util.find_spec("streamlit") is not None


def command(
    db: Path, *, port: int, freshness_hours: float, python: str = sys.executable
) -> list[str]:
    """The command that serves the dashboard of ``db`` on 127.0.0.1:``port`` with ``python``
    (one that has the extra)."""
    options = {**STREAMLIT_OPTIONS, "server.address": "127.0.0.1", "server.port": str(port)}
    return [
        python,
        "-m",
        "streamlit",
        "run",
        str(APP),
        *(f"--{name}={value}" for name, value in options.items()),
        "--",
        "--db",
        str(db),
        "--freshness-hours",
        str(freshness_hours),
    ]


def serve(db: Path, *, port: int, freshness_hours: float) -> int:
    """Serve the dashboard of ``db`` on 127.0.0.1 until Ctrl-C; the exit status."""
    try:
        return subprocess.call(command(db, port=port, freshness_hours=freshness_hours))
    except KeyboardInterrupt:  # Streamlit got the same Ctrl-C and stops on its own
        return 0
