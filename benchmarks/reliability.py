"""The reliability report: seven experiments that try hard to break Graft, and their figures.

Why this exists: people keep weeks of work in Graft projects and leave runs going overnight,
so "nothing lost, nothing crashes" is measured, not hoped for. Each experiment is a module
`benchmarks/reliability_<name>.py` whose `experiment(quick)` returns its title, its rows of
figures and how many cases went wrong (must be 0); each runs in a fresh Python here, so one
experiment's crash or leak cannot hide in another's figures. The fast parts of the same
experiments run in `make test` (tests/reliability/).

    .venv/bin/python benchmarks/reliability.py           # all seven, rewrite docs/reliability.md
    .venv/bin/python benchmarks/reliability.py fuzz kill # some of them, only printed
    .venv/bin/python benchmarks/reliability.py --quick   # small sizes, only printed
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "reliability.md"
EXPERIMENTS = {  # in the order of issue 16's list
    "fuzz": "Seeded mutants of every example, each loaded and validated or refused with one line "
            "of at most 300 characters, none over 10 s.",
    "kill": "Saves of a large project and of a checkpoint killed at random moments: the file is "
            "always the old or the new one, and no temporary file outlives the next save.",
    "disk": "A full disk and read-only folders for every file Graft writes: a clear message "
            "naming the file, the previous file intact, the process up.",
    "hostile": "Hostile model files, each with a canary the payload would write if any code ran.",
    "bounds": "Every numeric parameter of every node type with absurd values: refused at load or "
              "validation with its place, never reaching compile or fit.",
    "training": "NaN/Inf, an exception in a layer, a stop during validation, closing the window, "
                "SIGINT twice: a message, the last good weights, no thread left.",
    "soak": "The editor trains with its live plots open: memory growth and the UI's event-loop "
            "latency throughout.",
}
RUNNER = ("import json, sys; from benchmarks.reliability_{name} import experiment; "
          "result = experiment(quick={quick}); open(sys.argv[1], 'w').write(json.dumps(result))")


def run_alone(experiment, quick_help: str, also=lambda result: None, argv: list[str] | None = None) -> int:
    """What an experiment module does when run as a script: measure, print its rows (and what
    `also` prints of the result), exit 1 when a case went wrong."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help=quick_help)
    result = experiment(quick=parser.parse_args(argv).quick)
    width = max(len(label) for label, _ in result["rows"])
    print(result["title"])
    for label, value in result["rows"]:
        print(f"  {label:<{width}}  {value}")
    also(result)
    print(f"  {'failures':<{width}}  {result['failures']}")
    return 1 if result["failures"] else 0


def run_experiment(name: str, quick: bool) -> dict:
    """One experiment in a fresh Python; a crash of it is reported as one failure."""
    with tempfile.TemporaryDirectory() as folder:
        result_file = Path(folder) / "result.json"
        start = time.monotonic()
        done = subprocess.run([sys.executable, "-c", RUNNER.format(name=name, quick=quick), str(result_file)],
                              cwd=ROOT, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3",
                                             "QT_QPA_PLATFORM": "offscreen"},
                              capture_output=True, text=True)
        minutes = (time.monotonic() - start) / 60
        if done.returncode != 0 or not result_file.exists():
            tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
            return {"title": name, "rows": [("experiment crashed", " / ".join(tail))], "failures": 1,
                    "minutes": minutes}
        result = json.loads(result_file.read_text())
    return {**result, "minutes": minutes}


def markdown(name: str, result: dict) -> str:
    rows = "\n".join(f"| {label} | {value} |" for label, value in result["rows"])
    return (f"## {result['title']}\n\n{EXPERIMENTS[name]}\n\n| | |\n|---|---:|\n{rows}\n"
            f"| **anything else (must be 0)** | **{result['failures']}** |\n\n"
            f"`benchmarks/reliability_{name}.py`, {result['minutes']:.1f} min.\n")


def commit() -> str:
    done = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT,
                           capture_output=True, text=True).stdout.strip()
    return done.stdout.strip() + (" with uncommitted changes" if dirty else "")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("names", nargs="*", metavar="NAME",
                        help=f"experiments to run (default all): {', '.join(EXPERIMENTS)}")
    parser.add_argument("--quick", action="store_true", help="small sizes; the report is left as it is")
    args = parser.parse_args()
    names = args.names or list(EXPERIMENTS)
    unknown = [name for name in names if name not in EXPERIMENTS]
    if unknown:
        parser.error(f"unknown experiment {unknown[0]!r}; choose from {', '.join(EXPERIMENTS)}")
    sections, failures = [], 0
    for name in names:
        result = run_experiment(name, args.quick)
        failures += result["failures"]
        sections.append(markdown(name, result))
        print(sections[-1], flush=True)
    if not args.quick and names == list(EXPERIMENTS):
        DOC.write_text(
            "# Reliability\n\n"
            "Measured by `.venv/bin/python benchmarks/reliability.py` at commit "
            f"{commit()}, {datetime.date.today()}, Python {platform.python_version()} on "
            f"{platform.system()} with {os.cpu_count()} CPUs. Each experiment tries hard to break "
            "Graft and counts what happened; *anything else* is every case that ended another "
            "way than the one it must (a traceback, a crash, a lost or half-written file, a "
            "canary written, a limit missed), and must be 0. The fast parts of each experiment "
            "run in `make test` (`tests/reliability/`).\n\n" + "\n".join(sections))
    print(f"reliability: {failures} case(s) ended another way than they must")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
