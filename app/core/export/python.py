"""Export a project's model as a standalone Python script that rebuilds it with the Keras
functional API, plus the trained weights in a `.weights.h5` file written beside it.

The script is for people who want to read, change or fine-tune the composed model in their
own code: it imports only Keras and NumPy, builds each layer in one readable call with its
explicit `name=`, and rebuilds the pretrained models nested in the graph from their layers'
configs (arguments equal to a layer's defaults left out), so nothing of Graft is needed.
Keras matches saved weights to layers by their order and class, so the script builds the
layers exactly as the in-app model holds them; the check proves it. The code is generated
from the compiled model itself (its functional config and its live layers), the one thing
the predictions are compared with, and the Graft graph only adds names: which file or
keras.applications architecture a nested model came from, its taps, who shares whose weights.

Like the other exports it is proved rather than trusted: the written script runs in a fresh
Python, outside the project and with Graft's package blocked, on the seeded sample batch, and
its predictions are compared with the in-app model's. Both files are staged beside the target
and moved into place only when proved."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from app.core.document.project import Project
from app.core.export.common import (
    CHECKING,
    PYTHON,
    SCRATCH_PREFIX,
    ExportError,
    ExportReport,
    Progress,
    check_target,
    checked_report,
    in_app_model,
    no_progress,
    predict,
    sample_batch,
    writing,
)
from app.core.export.python_script import script_source
from app.core.training.store import save_weights

RUN_TIMEOUT_S = 600  # a fresh Python imports TensorFlow and builds the model; big models take a while
SHADOWED = {"keras", "numpy", "tensorflow", "sys", "pathlib", "h5py"}  # what the script imports
# Runs the staged script the way a user would: in a fresh Python, imported by its path, with
# Graft's package made unimportable, so a script that needed Graft fails the check.
DRIVER = '''\
import importlib.util, json, sys
sys.modules["app"] = None  # Graft's package: importing it now raises ImportError
import numpy as np

script, sample_file, result_file = sys.argv[1:4]
spec = importlib.util.spec_from_file_location("exported_model", script)
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
model = module.build_model()
sample = np.load(sample_file)
inputs = [sample[f"input_{i}"] for i in range(len(sample.files))]
outputs = model(inputs if len(inputs) > 1 else inputs[0], training=False)
outputs = outputs if isinstance(outputs, (list, tuple)) else [outputs]
assert not any(n == "app" or n.startswith("app.") for n, m in sys.modules.items() if m is not None)
np.savez(result_file, **{f"output_{i}": np.asarray(o) for i, o in enumerate(outputs)})
print(json.dumps(list(model.output_names)))
'''


def export_python(project: Project, out_path: str | Path, *, model=None,
                  progress: Progress = no_progress) -> ExportReport:
    """Write `NAME.py` and `NAME.weights.h5` beside it. `model` is the in-app model when the
    caller already holds one: an untrained project's fresh layers are random, so a new
    compile would differ from it."""
    out_path = Path(out_path)
    if out_path.suffix != ".py":
        raise ExportError(f"{out_path.name}: a Python script must end in .py; rename it")
    if out_path.stem in SHADOWED:
        raise ExportError(f"{out_path.name}: a script of that name would import itself instead of "
                          f"{out_path.stem} when run; choose another name")
    weights_path = out_path.with_name(f"{out_path.stem}.weights.h5")
    check_target(out_path, folder=False)
    check_target(weights_path, folder=False)
    model = in_app_model(project, model, progress)
    progress("Writing the Python script")
    source = script_source(project, model, weights_path.name)
    # absolute: the check runs a Python inside it (cwd=scratch), which relative names would miss
    with (writing(out_path),
          tempfile.TemporaryDirectory(dir=out_path.parent.absolute(), prefix=SCRATCH_PREFIX) as scratch):
        staged = Path(scratch) / "export" / out_path.name
        staged.parent.mkdir()
        staged.write_text(source, encoding="utf-8")
        save_weights(model, staged.with_name(weights_path.name))
        progress(CHECKING)
        sample = sample_batch(model)
        expected = predict(model, sample)
        report = _run_check(staged, out_path, sample, expected, list(model.output_names), Path(scratch))
        if report.ok:
            os.replace(staged.with_name(weights_path.name), weights_path)
            os.replace(staged, out_path)
    return report


def _run_check(staged: Path, out_path: Path, sample, expected, output_names, scratch: Path) -> ExportReport:
    """Run the staged script's build_model() in a fresh Python and compare its predictions."""
    what = f"Python script (with its weights {out_path.stem}.weights.h5)"
    np.savez(scratch / "sample.npz", **{f"input_{i}": x for i, x in enumerate(sample)})
    (scratch / "driver.py").write_text(DRIVER, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["TF_CPP_MIN_LOG_LEVEL"] = "3"
    # -P: not the scratch folder on sys.path; unlike -I it keeps a user's site-packages, where
    # Keras may be installed
    command = [sys.executable, "-P", str(scratch / "driver.py"), str(staged), str(scratch / "sample.npz"),
               str(scratch / "result.npz")]
    try:
        done = subprocess.run(command, cwd=scratch, env=env, capture_output=True, text=True,
                              timeout=RUN_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        return _failed(out_path, what, f"it ran for more than {RUN_TIMEOUT_S} s")
    if done.returncode != 0:
        lines = [line for line in done.stderr.splitlines() if line.strip()]
        return _failed(out_path, what, f"it failed with {lines[-1] if lines else f'exit {done.returncode}'}")
    try:
        names = json.loads(done.stdout.strip().splitlines()[-1])
    except (IndexError, ValueError):  # something else printed last: the script's own output
        return _failed(out_path, what, "it did not report its outputs")
    if names != output_names:
        return _failed(out_path, what, f"its outputs are named {names}, Graft's {output_names}")
    with np.load(scratch / "result.npz") as result:
        got = [result[f"output_{i}"] for i in range(len(result.files))]
    return checked_report(PYTHON, out_path, expected, got, what, "build_model() in a fresh Python")


def _failed(out_path: Path, what: str, why: str) -> ExportReport:
    return ExportReport(PYTHON, out_path, math.inf, False, f"{what} not written to {out_path}: run in a "
                        f"fresh Python, {why}; please report this.")
