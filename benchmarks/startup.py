"""The command's start: what ``papra-pipeline`` costs before it does anything (issue 23 §5).

The sync scenarios time a run inside a worker whose imports are already done; this measures
what a cron job pays on top, in fresh interpreters, rounds alternating so a machine that slows
down for a while slows every figure alike:

* ``interpreter``: ``python -c pass``, the floor;
* ``help``: ``papra-pipeline --help``, the command's own imports (httpx among them);
* ``sync_imports``: the command plus what a sync loads when it starts (the engine, DuckDB,
  pandas) and exits before its first request.

``python -m benchmarks.startup [ROUNDS]`` prints them alone.
"""

from __future__ import annotations

import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

COMMANDS = {
    "interpreter": ["-c", "pass"],
    "help": ["-m", "papra_pipeline.cli", "--help"],
    "sync_imports": ["-c", "import papra_pipeline.cli; papra_pipeline.sync.sync;"
                           " import papra_pipeline.sync.webhooks, papra_pipeline.warehouse.store"],
}


def _cpu_of_children() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def measure(
    rounds: int, env: dict[str, str] | None = None, cwd: Path | None = None
) -> dict[str, dict[str, float]]:
    """Median, min and max wall seconds of each command over ``rounds`` alternating rounds,
    and its median CPU seconds (steadier than wall on a busy machine). ``env`` and ``cwd`` as
    the benchmark's other children, for --source."""
    wall: dict[str, list[float]] = {name: [] for name in COMMANDS}
    cpu: dict[str, list[float]] = {name: [] for name in COMMANDS}
    for _ in range(rounds):
        for name, args in COMMANDS.items():
            started, cpu_before = time.perf_counter(), _cpu_of_children()
            subprocess.run([sys.executable, *args], env=env, cwd=cwd, check=True,
                           stdout=subprocess.DEVNULL)
            wall[name].append(time.perf_counter() - started)
            cpu[name].append(_cpu_of_children() - cpu_before)
    return {
        name: {"median": statistics.median(values), "min": min(values), "max": max(values),
               "cpu_median": statistics.median(cpu[name])}
        for name, values in wall.items()
    }


def print_report(figures: dict[str, dict[str, float]], noop: dict | None = None) -> None:
    def show(name: str) -> str:
        f = figures[name]
        return f"{f['median']:.3f} s [{f['min']:.3f}-{f['max']:.3f}], CPU {f['cpu_median']:.3f} s"

    print("command start-up (fresh interpreters, wall median [min-max], CPU median):")
    print(f"  python -c pass                          {show('interpreter')}")
    print(f"  papra-pipeline --help                   {show('help')}")
    print(f"  the imports of a sync, to its 1st request {show('sync_imports')}")
    if noop is not None:
        share = figures["sync_imports"]["median"] / (figures["sync_imports"]["median"]
                                                     + noop["median"])
        print(f"  beside the no-op full sync's {noop['median']:.3f} s (measured after its "
              f"imports): start-up is {share:.0%} of the command's time")


if __name__ == "__main__":
    print_report(measure(int(sys.argv[1]) if len(sys.argv) > 1 else 5))
