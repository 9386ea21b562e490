"""The training runner as users meet it: examples that learn, phases that freeze what they
say, stop and pause that are obeyed, divergence that keeps good weights, runs that resume,
and trained weights that come back with the project."""

import json
import threading
import time

import keras
import numpy as np
import pytest

from app.core.analysis.validate import analyze
from app.core.document.fileformat import load, save
from app.core.document.project import Project
from app.core.document.training_setup import config_from_dict, rename_node
from app.core.editing.builder import GraphBuilder
from app.core.training import events
from app.core.training.data import prepare
from app.core.training.events import RunControl
from app.core.training.runner import load_trained_model, train
from app.core.training.store import latest_run
from tests.conftest import EXAMPLES, MODELS


def example_copy(name: str, tmp_path, **training) -> Project:
    """An example saved into tmp_path (its model paths rebased) with training changes, opened
    from there."""
    project = load(EXAMPLES / f"{name}.graft")
    document = project.training.to_dict()
    for key, value in training.items():
        if key == "phases":
            document["phases"] = value
        else:
            document["settings"][key] = value
    project.training = config_from_dict(document)
    save(project, tmp_path / f"{name}.graft")
    return load(tmp_path / f"{name}.graft")


def wine_regression(folder, **settings) -> Project:
    """A small Dense graph on the bundled wine data, predicting alcohol from the rest."""
    b = GraphBuilder()
    b.add("features", "Input", 0, 0, shape=[12])
    b.add("hidden", "Dense", 1, 0, units=16, activation="relu")
    b.add("predict", "Dense", 2, 0, units=1)
    b.add("alcohol", "Output", 3, 0, loss="mean_squared_error")
    for source, target in (("features", "hidden"), ("hidden", "predict"), ("predict", "alcohol")):
        b.wire(source, target)
    columns = ["malic_acid", "ash", "alcalinity_of_ash", "magnesium", "total_phenols", "flavanoids",
               "nonflavanoid_phenols", "proanthocyanins", "color_intensity", "hue",
               "od280_od315_of_diluted_wines", "proline"]
    training = config_from_dict({
        "data": {"source": "bundled", "path": "wine", "validation_path": "wine_holdout",
                 "mapping": {"features": columns, "alcohol": "alcohol"}},
        "settings": {"batch_size": 16, "epochs": 3, **settings}})
    project = Project(b.graph, "wine", training=training)
    folder.mkdir(exist_ok=True)
    save(project, folder / "wine.graft")
    return project


class Recorder:
    """A sink that keeps every event, by type."""

    def __init__(self):
        self.events = []

    def __call__(self, event):
        self.events.append(event)

    def of(self, kind):
        return [e for e in self.events if isinstance(e, kind)]


def weights_of(project, weights_file, node_name):
    project.training.weights = str(weights_file)
    model = load_trained_model(project).model
    return [w.copy() for w in model.get_layer(node_name).get_weights()]


def test_the_transfer_example_learns_a_new_head_to_90_percent(tmp_path):
    project = example_copy("transfer", tmp_path)
    sink = Recorder()
    ended = train(project, sink=sink, phase="head", epochs=8)
    assert ended.status == events.FINISHED, ended.message + ended.details
    evaluated = sink.of(events.Evaluated)[0]
    assert evaluated.metrics["label accuracy"] >= 0.90
    matrix = np.array(evaluated.confusion["label"])
    assert matrix.shape == (10, 10) and matrix.sum() == sink.of(events.RunStarted)[0].validation_samples
    assert evaluated.class_names["label"] == [str(i) for i in range(10)]
    assert len(evaluated.preview) == 8
    epochs = sink.of(events.EpochEnded)
    assert [e.global_epoch for e in epochs] == list(range(1, 9))
    assert "val_loss" in epochs[-1].logs and "val_accuracy" in epochs[-1].logs
    batches = sink.of(events.BatchEnded)
    assert batches[-1].global_step == 8 * batches[0].steps and all(np.isfinite(b.loss) for b in batches)
    run = tmp_path / "transfer.runs" / "run-001"
    assert ended.weights == "transfer.runs/run-001/best.weights.h5"
    history = json.loads((run / "history.json").read_text())
    assert len(history) == 8 and history[-1]["phase"] == "head"
    assert (run / "history.csv").read_text().splitlines()[0].startswith("phase,epoch,")
    assert (run / "last.weights.h5").is_file()


def test_a_two_phase_transfer_keeps_the_base_in_phase_one_and_tunes_it_in_phase_two(tmp_path):
    project = example_copy("transfer", tmp_path)
    original = keras.saving.load_model(MODELS / "digits_encoder.keras").get_weights()
    after_phase_one = {}

    def sink(event):  # phase one's last epoch has just been saved as last.weights.h5
        if isinstance(event, events.PhaseStarted) and event.index == 1:
            after_phase_one["base"] = weights_of(load(project.path), run_dir / "last.weights.h5",
                                                 "backbone")
            after_phase_one["head"] = weights_of(load(project.path), run_dir / "last.weights.h5", "head")

    run_dir = tmp_path / "transfer.runs" / "run-001"
    ended = train(project, sink=sink, epochs=2)
    assert ended.status == events.FINISHED, ended.message + ended.details
    for before, after in zip(original, after_phase_one["base"]):
        np.testing.assert_array_equal(before, after)
    final = weights_of(load(project.path), tmp_path / ended.weights, "backbone")
    changed = [not np.array_equal(a, b) for a, b in zip(original, final)]
    assert changed == [False, False, True, True, True, True]  # the last 3 layers: conv2, pool, features


def test_a_stop_request_is_honoured_within_a_second(tmp_path):
    project = example_copy("transfer", tmp_path, batch_size=8)
    control, sink, first_batch = RunControl(), Recorder(), threading.Event()

    def watch(event):
        sink(event)
        if isinstance(event, events.BatchEnded):
            first_batch.set()

    worker = threading.Thread(target=train, args=(project,),
                              kwargs={"sink": watch, "control": control, "epochs": 1000})
    worker.start()
    assert first_batch.wait(60)
    asked = time.perf_counter()
    control.stop()
    worker.join(10)
    assert not worker.is_alive()
    ended = sink.of(events.RunEnded)[0]
    assert ended.status == events.STOPPED
    assert time.perf_counter() - asked < 1.0
    assert ended.weights.endswith("last.weights.h5")


def test_a_stop_asked_for_after_an_epochs_last_step_ends_the_run_in_its_validation(tmp_path):
    project = example_copy("transfer", tmp_path)
    control, sink = RunControl(), Recorder()

    def watch(event):
        sink(event)
        if isinstance(event, events.BatchEnded) and event.step == event.steps:
            control.stop()  # validation comes next, then the epoch's end

    ended = train(project, sink=watch, control=control, epochs=3)
    assert ended.status == events.STOPPED
    assert sink.of(events.EpochEnded) == []  # the validation did not finish the epoch


def test_a_paused_run_waits_and_resumes(tmp_path):
    project = example_copy("transfer", tmp_path)
    control, sink = RunControl(), Recorder()
    control.pause()
    worker = threading.Thread(target=train, args=(project,),
                              kwargs={"sink": sink, "control": control, "epochs": 1, "phase": "head"})
    worker.start()
    time.sleep(3)
    assert sink.of(events.BatchEnded) == [] and worker.is_alive()
    control.resume()
    worker.join(60)
    assert sink.of(events.RunEnded)[0].status == events.FINISHED


def test_a_huge_learning_rate_stops_with_the_nan_message_and_keeps_the_last_good_weights(tmp_path):
    project = wine_regression(tmp_path, optimizer="sgd", learning_rate=10.0)
    sink = Recorder()
    ended = train(project, sink=sink)
    assert ended.status == events.DIVERGED
    assert "NaN" in ended.message or "infinite" in ended.message
    assert "last good weights" in ended.message and "Lower the learning rate" in ended.message
    assert "it was 10" in ended.message
    assert sink.of(events.EpochEnded) == []  # it diverged in the first epoch…
    project.training.weights = ended.weights
    kept = load_trained_model(project).model.get_weights()
    assert all(np.isfinite(w).all() for w in kept)
    still = wine_regression(tmp_path / "still", optimizer="sgd", learning_rate=0.0)
    ended = train(still, epochs=1)
    still.training.weights = ended.weights
    for good, start in zip(kept, load_trained_model(still).model.get_weights()):
        np.testing.assert_array_equal(good, start)  # …so the good weights are those it started from


def test_a_stopped_run_resumes_where_it_stopped(tmp_path):
    project = example_copy("transfer", tmp_path)
    control, sink = RunControl(), Recorder()

    def stop_after_first_epoch(event):
        sink(event)
        if isinstance(event, events.EpochEnded):
            control.stop()

    ended = train(project, sink=stop_after_first_epoch, control=control, epochs=2)
    assert ended.status == events.STOPPED
    assert latest_run(project, events.STOPPED) == tmp_path / "transfer.runs" / "run-001"
    resumed = Recorder()
    ended = train(project, sink=resumed, epochs=2, resume=True)
    assert ended.status == events.FINISHED, ended.message + ended.details
    assert resumed.of(events.RunStarted)[0].resumed_from
    epochs = [(e.phase, e.epoch) for e in resumed.of(events.EpochEnded)]
    assert epochs == [(0, 1), (1, 0), (1, 1)]  # the rest of the run, not a new one
    history = json.loads((tmp_path / "transfer.runs" / "run-001" / "history.json").read_text())
    assert [(row["phase"], row["epoch"]) for row in history] == [
        ("head", 1), ("head", 2), ("fine_tune", 1), ("fine_tune", 2)]
    assert latest_run(project, events.STOPPED) is None


def test_a_resumed_run_goes_on_with_its_optimizer_and_learning_rate_schedule(tmp_path):
    """The cosine schedule over two epochs is at half the base rate after the first: a resume
    must go on from there with Adam's moments, not start the schedule and the moments anew."""
    # one step per call: the first batch's rate is then its first step's
    project = wine_regression(tmp_path, epochs=2, schedule="cosine", learning_rate=0.01,
                              steps_per_execution=1)
    control = RunControl()

    def stop_after_first_epoch(event):
        if isinstance(event, events.EpochEnded):
            control.stop()

    assert train(project, sink=stop_after_first_epoch, control=control).status == events.STOPPED
    saved = np.load(tmp_path / "wine.runs" / "run-001" / "optimizer.npz")
    assert int(saved["phase"]) == 0 and len(saved.files) > 3  # iterations, rate, Adam's moments
    resumed = Recorder()
    assert train(project, sink=resumed, resume=True).status == events.FINISHED
    first = resumed.of(events.BatchEnded)[0]
    assert 0.004 < first.learning_rate < 0.0055  # about 0.01 × (1 + cos(π/2 + a step)) / 2


def _crash_after_two_epochs(project, run_dir) -> list:
    """Train until the second epoch ended, then crash; what state.json said at each epoch's end."""
    on_disk = []

    def sink(event):
        if isinstance(event, events.EpochEnded):
            state = run_dir / "state.json"
            on_disk.append(json.loads(state.read_text())["epoch"] if state.exists() else None)
            if event.epoch == 1:
                raise KeyboardInterrupt  # not caught by the runner, like a killed process

    try:
        train(project, sink=sink, epochs=4)
    except KeyboardInterrupt:
        return on_disk
    raise AssertionError("the run did not crash")


def test_a_crash_mid_phase_leaves_a_checkpoint_to_resume_from(tmp_path, monkeypatch):
    from app.core.training import run

    project = example_copy("transfer", tmp_path)
    runs = tmp_path / "transfer.runs"
    monkeypatch.setattr(run, "CHECKPOINT_SECONDS", 1e9)  # a quick model: no checkpoint yet
    assert _crash_after_two_epochs(project, runs / "run-001") == [None, None]
    monkeypatch.setattr(run, "CHECKPOINT_SECONDS", 0.0)  # a slow one: after every epoch
    assert _crash_after_two_epochs(project, runs / "run-002") == [1, 2]
    assert json.loads((runs / "run-002" / "state.json").read_text())["epoch"] == 2
    ended = train(project, sink=Recorder(), epochs=4, resume=True)
    assert ended.status == events.FINISHED, ended.message + ended.details
    history = json.loads((runs / "run-002" / "history.json").read_text())
    assert [(row["phase"], row["epoch"]) for row in history][:4] == [
        ("head", 1), ("head", 2), ("head", 3), ("head", 4)]


def test_a_run_resumed_after_a_crash_has_each_epoch_once_in_its_history(tmp_path, monkeypatch):
    """The history on disk is the one of the last checkpoint: epochs after it, lost in the
    crash, are trained again on resume and are not listed twice."""
    from app.core.training import run

    project = example_copy("transfer", tmp_path)
    run_dir = tmp_path / "transfer.runs" / "run-001"
    monkeypatch.setattr(run, "CHECKPOINT_SECONDS", 0.0)  # a checkpoint after the first epoch

    def sink(event):
        if isinstance(event, events.EpochEnded):
            monkeypatch.setattr(run, "CHECKPOINT_SECONDS", 1e9)  # and none after it
            if event.epoch == 2:
                raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(project, sink=sink, epochs=4)
    assert json.loads((run_dir / "state.json").read_text())["epoch"] == 1
    assert [row["epoch"] for row in json.loads((run_dir / "history.json").read_text())] == [1]
    ended = train(project, sink=Recorder(), epochs=4, resume=True)
    assert ended.status == events.FINISHED, ended.message + ended.details
    history = json.loads((run_dir / "history.json").read_text())
    assert [(row["phase"], row["epoch"]) for row in history][:4] == [
        ("head", 1), ("head", 2), ("head", 3), ("head", 4)]
    assert (run_dir / "history.csv").read_text().count("\nhead,") == 4


def test_reopening_the_project_after_training_gives_the_same_predictions(tmp_path):
    project = example_copy("transfer", tmp_path)
    sink = Recorder()
    ended = train(project, sink=sink, phase="head", epochs=2)
    project.training.weights = ended.weights
    save(project, project.path)
    reopened = load(tmp_path / "transfer.graft")
    assert reopened.training.weights == "transfer.runs/run-001/best.weights.h5"
    analysis = analyze(reopened.graph, reopened.context)
    data = prepare(reopened.training.data, reopened.graph, analysis, tmp_path, batch_size=64, seed=0,
                   losses={"label": "sparse_categorical_crossentropy"})
    inputs, targets = data.validation_arrays
    probabilities = load_trained_model(reopened).model.predict(inputs["image"], verbose=0)
    shown = [(row["predicted"], row["confidence"]) for row in sink.of(events.Evaluated)[0].preview]
    again = [(str(p.argmax()), p.max()) for p in probabilities[:len(shown)]]
    assert [name for name, _ in shown] == [name for name, _ in again]
    np.testing.assert_allclose([c for _, c in shown], [c for _, c in again], rtol=1e-6)
    accuracy = float(np.mean(probabilities.argmax(-1) == targets["label"].reshape(-1)))
    assert accuracy == sink.of(events.Evaluated)[0].metrics["label accuracy"]


def test_staged_cascade_phases_train_only_their_stage(tmp_path):
    project = example_copy("cascade", tmp_path)
    run_dir = tmp_path / "cascade.runs" / "run-001"
    stages = {"classifier_a": "digits_cnn", "refiner_b": "digits_refiner"}
    weights = [{name: keras.saving.load_model(MODELS / f"{file}.keras").get_weights()
                for name, file in stages.items()}]  # both stages' weights before each phase, and at the end
    recorder = Recorder()

    def stage_weights(weights_file):
        reopened = load(project.path)
        reopened.training.weights = str(weights_file)
        model = load_trained_model(reopened).model
        return {name: model.get_layer(name).get_weights() for name in stages}

    def sink(event):  # the phase before has just been saved as last.weights.h5
        recorder(event)
        if isinstance(event, events.PhaseStarted) and event.index > 0:
            weights.append(stage_weights(run_dir / "last.weights.h5"))

    ended = train(project, sink=sink, epochs=1)
    assert ended.status == events.FINISHED, ended.message + ended.details
    weights.append(stage_weights(tmp_path / ended.weights))
    trained_in = {"stage_a": {"classifier_a"}, "stage_b": {"refiner_b"}, "joint": set(stages)}
    for (phase, trained), before, after in zip(trained_in.items(), weights, weights[1:]):
        for name in stages:
            same = [np.array_equal(a, b) for a, b in zip(before[name], after[name])]
            assert same == [name not in trained] * len(same), (phase, name, same)
    phases = recorder.of(events.PhaseStarted)
    assert [p.name for p in phases] == ["stage_a", "stage_b", "joint"]
    logs = [e.logs for e in recorder.of(events.EpochEnded)]
    assert "digit_a_loss" not in logs[0] and "val_loss" in logs[0]  # stage A: A's output only
    assert set(logs[2]) >= {"digit_a_loss", "digit_loss", "val_digit_loss"}  # jointly: both
    assert phases[0].trainable_params == 5130 and phases[1].trainable_params < phases[2].trainable_params
    assert [p.learning_rate for p in phases] == [1e-3, 1e-3, 1e-4]


def test_a_setup_that_names_missing_nodes_is_refused_before_anything_runs(tmp_path):
    project = example_copy("transfer", tmp_path, phases=[
        {"name": "head", "epochs": 1, "trainable": {"base": "frozen"}}])
    ended = train(project)
    assert ended.status == events.FAILED
    assert "phase 'head': trainable names 'base', which is not a node of the graph" in ended.message
    assert not (tmp_path / "transfer.runs").exists()


def test_renaming_a_node_renames_it_throughout_the_setup():
    config = load(EXAMPLES / "transfer.graft").training
    renamed = rename_node(config, "backbone", "digits_base")
    fine_tune = renamed.phases[1]
    assert (fine_tune.trainable, fine_tune.lr_multipliers) == ({"digits_base": 3}, {"digits_base": 0.5})
    assert rename_node(renamed, "label", "digit").data["mapping"] == {"image": "images", "digit": "labels"}
    assert config.phases[1].trainable == {"backbone": 3}  # a new setup; the old one stays for undo
    assert rename_node(config, "dropout", "drop") is None  # the setup never names it


def test_an_unsaved_project_is_asked_to_be_saved_first():
    project = load(EXAMPLES / "transfer.graft")
    project.path = None
    ended = train(project)
    assert ended.status == events.FAILED and "save the project first" in ended.message


def test_a_graph_with_errors_does_not_train(tmp_path):
    project = load(EXAMPLES / "broken.graft")
    save(project, tmp_path / "broken.graft")
    ended = train(project)
    assert ended.status == events.FAILED and "the graph has 3 error(s)" in ended.message


def test_a_data_mismatch_is_a_clear_message(tmp_path):
    project = example_copy("transfer", tmp_path)
    project.training.data["mapping"] = {"image": "labels", "label": "labels"}
    ended = train(project)
    assert ended.status == events.FAILED and ended.message.startswith("data: ")
    assert "'image'" in ended.message and "(8, 8, 1)" in ended.message


def test_fine_tuning_with_a_learning_rate_multiplier_tunes_the_backbone(tmp_path):
    """The example's fine_tune phase (multiplier 0.5 on the backbone) against the same phase
    with multiplier 1, same seed: with SGD at a constant rate each step of the backbone is
    half as long, so over one epoch each of its tuned weights moves about half as far."""
    original = keras.saving.load_model(MODELS / "digits_encoder.keras").get_weights()

    def moved(folder, **multipliers):
        folder.mkdir()
        phases = load(EXAMPLES / "transfer.graft").training.to_dict()["phases"]
        assert (phases[1]["name"], phases[1]["lr_multipliers"]) == ("fine_tune", {"backbone": 0.5})
        phases[1]["lr_multipliers"].update(multipliers)
        project = example_copy("transfer", folder, optimizer="sgd", schedule="constant", phases=phases)
        ended = train(project, phase="fine_tune", epochs=1)
        assert ended.status == events.FINISHED, ended.message + ended.details
        tuned = weights_of(load(project.path), folder / ended.weights, "backbone")
        return np.array([np.linalg.norm(after - before) for before, after in zip(original, tuned)])

    halved, full = moved(tmp_path / "example"), moved(tmp_path / "reference", backbone=1)
    assert list(halved > 0) == list(full > 0) == [False, False, True, True, True, True]
    ratios = halved[2:] / full[2:]
    assert np.all((ratios > 0.4) & (ratios < 0.6)), ratios


def test_several_steps_per_execution_report_every_that_many_steps(tmp_path):
    project = wine_regression(tmp_path, steps_per_execution=4, epochs=2)
    sink = Recorder()
    ended = train(project, sink=sink)
    assert ended.status == events.FINISHED, ended.message + ended.details
    batches = sink.of(events.BatchEnded)
    assert batches[0].steps == 9  # 142 training rows in batches of 16
    assert [(b.step, b.global_step) for b in batches] == [(4, 4), (8, 8), (9, 9), (4, 13), (8, 17), (9, 18)]
    assert all(np.isfinite(b.loss) for b in batches)
