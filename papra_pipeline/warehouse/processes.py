"""Whether a process still runs: what a process names after its pid (a staging directory, a
copy being adopted) is left behind when it is killed, and removed once it no longer runs."""

from __future__ import annotations

import os


def running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        pass
    return True
