"""One document, one way to change it: every core command undoes and redoes the whole project
exactly, saving never changes the project (so undo stays valid after Save As), a rename
reaches the training setup, and a run's own files are all that resume reads."""

import json
import os
import shutil
import subprocess
import sys

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.core.analysis.validate import analyze
from app.core.document.fileformat import ProjectError, dumps, load, save
from app.core.document.training_setup import config_from_dict
from app.core.editing.builder import GraphBuilder
from app.core.editing.commands import CommandStack, Rename, SetParams, edit_training
from app.core.graph.graph import GraphError
from app.core.graph.params import ParamError
from app.core.training import events
from app.core.training.events import RunControl
from app.core.training.runner import train
from tests.conftest import EXAMPLES, MODELS, ROOT
from tests.core.strategies import document_edit, projects_with_setups


# -- every command undoes and redoes exactly ------------------------------------------------
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(project=projects_with_setups(), data=st.data())
def test_random_commands_undo_to_the_original_document_and_redo_to_the_final(project, data):
    stack = CommandStack(project)
    original = dumps(project)
    pushed = 0
    for _ in range(data.draw(st.integers(1, 20))):
        command = data.draw(document_edit(project))
        if command is None:
            continue
        try:
            stack.push(command)
            pushed += 1
        except (GraphError, ParamError, ProjectError, ValueError):
            continue  # refused edits change nothing (the stack does not keep them)
    final = dumps(project)
    for _ in range(pushed):
        assert stack.undo()
    assert dumps(project) == original
    for _ in range(pushed):
        assert stack.redo()
    assert dumps(project) == final


# -- Save As keeps the undo history valid ---------------------------------------------------
def model_file_project(folder):
    """x → a ModelFile at sub/m.keras (relative to `folder`) → y, saved in `folder`."""
    (folder / "sub").mkdir(parents=True)
    shutil.copy(MODELS / "digits_cnn.keras", folder / "sub" / "m.keras")
    b = GraphBuilder()
    b.add("x", "Input", shape=[8, 8, 1])
    b.add("cnn", "ModelFile", path="nowhere.keras")
    b.add("y", "Output")
    b.chain("x", "cnn", "y")
    save(b.project, folder / "p.graft")
    return load(folder / "p.graft")


def test_save_as_then_undo_and_redo_keep_the_model_loading(tmp_path):
    project = model_file_project(tmp_path / "old")
    cnn = project.graph.node_by_name("cnn").id
    stack = CommandStack(project)
    stack.push(SetParams(cnn, {"path": "sub/m.keras"}))
    assert analyze(project.graph, project.context).ok
    before = project.to_dict()

    (tmp_path / "new").mkdir()
    save(project, tmp_path / "new" / "p.graft")  # Save As into another folder
    assert project.to_dict() == before  # saving changed nothing in the project
    saved = json.loads((tmp_path / "new" / "p.graft").read_text())
    assert saved["nodes"][1]["params"]["path"] == "../old/sub/m.keras"  # only the file is rebased

    stack.undo()
    stack.redo()
    assert project.graph.node(cnn).params["path"] == "sub/m.keras"
    assert analyze(project.graph, project.context).ok, "the model no longer loads after undo/redo"
    save(project, project.path)
    reopened = load(tmp_path / "new" / "p.graft")
    assert analyze(reopened.graph, reopened.context).ok
    assert reopened.context.resolve(reopened.graph.node(cnn).params["path"]).resolve() == \
        (tmp_path / "old" / "sub" / "m.keras").resolve()


# -- a rename reaches the training setup ----------------------------------------------------
def test_a_core_rename_updates_the_data_mapping_and_every_phase_and_undo_restores_them():
    project = load(EXAMPLES / "transfer.graft")
    phases = [p.to_dict() for p in project.training.phases]
    phases[0]["losses"] = {"label": 1.0}
    phases[0]["trainable"] = {"backbone": "frozen"}
    project.training = project.training.replaced(phases=phases)
    before = project.training.to_dict()
    backbone, label = (project.graph.node_by_name(n).id for n in ("backbone", "label"))
    stack = CommandStack(project)

    stack.push(Rename(backbone, "encoder"))
    stack.push(Rename(label, "digit"))

    setup = project.training
    assert setup.data["mapping"] == {"image": "images", "digit": "labels"}
    assert setup.phases[0].trainable == {"encoder": "frozen"} and setup.phases[0].losses == {"digit": 1.0}
    assert setup.phases[1].trainable == {"encoder": 3} and setup.phases[1].lr_multipliers == {"encoder": 0.5}
    stack.undo()
    stack.undo()
    assert project.training.to_dict() == before


def test_a_rename_announces_the_setup_change_to_the_project_listeners():
    project = load(EXAMPLES / "transfer.graft")
    seen = []
    project.subscribe(seen.append)
    CommandStack(project).push(Rename(project.graph.node_by_name("label").id, "digit"))
    assert [event.kind for event in seen] == ["training"]


# -- resume reads the run's own files -------------------------------------------------------
def transfer_copy(folder, head_epochs=1, fine_tune_epochs=2):
    project = load(EXAMPLES / "transfer.graft")
    phases = [p.to_dict() for p in project.training.phases]
    phases[0]["epochs"], phases[1]["epochs"] = head_epochs, fine_tune_epochs
    CommandStack(project).push(edit_training(project.training, "Shorter", phases=phases))
    folder.mkdir(exist_ok=True)
    save(project, folder / "transfer.graft")
    return load(folder / "transfer.graft")


def test_a_run_stopped_in_its_second_phase_goes_on_with_that_phase_in_a_fresh_process(tmp_path):
    project = transfer_copy(tmp_path)
    control = RunControl()

    def stop_in_the_second_phase(event):
        if isinstance(event, events.EpochEnded) and event.phase == 1:
            control.stop()

    assert train(project, sink=stop_in_the_second_phase, control=control).status == events.STOPPED
    run = tmp_path / "transfer.runs" / "run-001"
    assert json.loads((run / "state.json").read_text())["phase"] == 1

    # The setup changes after the stop: one phase, other epochs. Resume must not read it.
    CommandStack(project).push(edit_training(project.training, "Other phases", phases=[
        {"name": "other", "epochs": 7, "learning_rate": 0.5}]))
    save(project, project.path)
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    done = subprocess.run([sys.executable, "-m", "app", "train", str(project.path), "--resume"],
                          capture_output=True, text=True, cwd=ROOT, env=env, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    history = json.loads((run / "history.json").read_text())
    assert [(row["phase"], row["epoch"]) for row in history] == [
        ("head", 1), ("fine_tune", 1), ("fine_tune", 2)]
    assert "phase 2 'fine_tune'" in done.stdout and "'other'" not in done.stdout
    assert json.loads((run / "state.json").read_text())["status"] == events.FINISHED


def stopped_after_one_epoch(project, seen: list | None = None) -> events.RunEnded:
    """Train `project` until its first epoch ended, then stop (its events go to `seen`)."""
    control = RunControl()

    def sink(event):
        if seen is not None:
            seen.append(event)
        if isinstance(event, events.EpochEnded):
            control.stop()

    return train(project, sink=sink, control=control)


def test_resume_refuses_another_phase_or_epoch_count_than_the_run_had(tmp_path):
    project = transfer_copy(tmp_path)
    assert stopped_after_one_epoch(project).status == events.STOPPED
    ended = train(project, resume=True, phase="fine_tune")
    assert ended.status == events.FAILED
    assert "resume it without another phase or number of epochs" in ended.message
    assert train(project, resume=True, epochs=9).status == events.FAILED


def test_resume_names_a_damaged_state_file(tmp_path):
    project = transfer_copy(tmp_path)
    stopped_after_one_epoch(project)
    state_file = tmp_path / "transfer.runs" / "run-001" / "state.json"
    state = json.loads(state_file.read_text())
    state["settings"]["batch_size"] = 0
    state_file.write_text(json.dumps(state))
    ended = train(project, resume=True)
    assert ended.status == events.FAILED and "state.json" in ended.message
    assert "settings.batch_size" in ended.message and not ended.details


def test_a_resumed_run_keeps_its_recorded_settings(tmp_path):
    project = transfer_copy(tmp_path, head_epochs=2)
    seen = []
    stopped_after_one_epoch(project, seen)
    steps = next(e for e in seen if isinstance(e, events.PhaseStarted)).steps_per_epoch
    settings_now = dict(project.training.settings, batch_size=8)  # more steps per epoch, if it were read
    CommandStack(project).push(edit_training(project.training, "Other", settings=settings_now))
    resumed = []
    assert train(project, sink=resumed.append, resume=True).status == events.FINISHED
    assert next(e for e in resumed if isinstance(e, events.PhaseStarted)).steps_per_epoch == steps


def test_config_from_dict_round_trips_the_recorded_phases():
    setup = config_from_dict({"phases": [{"name": "a", "epochs": 2}]})
    assert setup.replaced(phases=setup.phases).to_dict() == setup.to_dict()
