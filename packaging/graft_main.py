"""The bundle's one executable, `graft`: the editor and the command line, as the pip entry point.

Frozen, there is no Python beside Graft. The Python export proves its script by running it in a
fresh interpreter (`sys.executable -P driver.py …`); in the bundle `sys.executable` is this
program, so that call runs the script here, in a process that has imported nothing of Graft."""

import runpy
import sys

if getattr(sys, "frozen", False) and sys.argv[1:2] == ["-P"] and len(sys.argv) > 2:
    sys.argv = sys.argv[2:]
    runpy.run_path(sys.argv[0], run_name="__main__")
    sys.exit(0)

runpy.run_module("app", run_name="__main__", alter_sys=True)
