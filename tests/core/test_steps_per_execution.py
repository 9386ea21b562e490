"""steps_per_execution 0, the default: Graft picks the steps per call per phase from what a step
costs, many for a small model and one for an expensive one, with the same losses as one step
per call, progress and pause still acting between calls, and run.json saying what it picked."""

import json
import threading
import time

import numpy as np

from app.core.analysis.validate import analyze
from app.core.document.training_setup import config_from_dict
from app.core.editing.builder import GraphBuilder
from app.core.training import events
from app.core.training.events import RunControl
from app.core.training.runner import train
from app.core.training.steps import AUTO, MOST_STEPS, step_macs, steps_per_execution
from app.core.training.store import RECORD_FILE, read_history
from tests.core.test_training import Recorder, wine_regression


def classifier(base: dict) -> GraphBuilder:
    b = GraphBuilder()
    b.add("image", "Input", 0, 0, shape=base["input_shape"])
    b.add("base", "Application", 1, 0, pooling="avg", **base)
    b.add("head", "Dense", 2, 0, units=10, activation="softmax")
    b.add("label", "Output", 3, 0, loss="sparse_categorical_crossentropy")
    b.chain("image", "base", "head", "label")
    return b


def picked(b: GraphBuilder, cut=None, batch_size: int = 32) -> int:
    return steps_per_execution(AUTO, analyze(b.graph), b.graph, ["label"], cut, batch_size)


def test_auto_is_the_default_and_a_new_setup_says_so():
    assert config_from_dict({}).settings["steps_per_execution"] == AUTO


def test_auto_runs_many_steps_per_call_for_a_small_model_and_one_for_an_expensive_one():
    resnet = classifier({"architecture": "ResNet50", "input_shape": [224, 224, 3], "trainable": "trainable"})
    assert picked(resnet) == 1  # about 370 billion multiply-adds a step
    assert picked(resnet, cut=["base"]) == MOST_STEPS  # its features cached: only the head trains
    small = classifier({"architecture": "MobileNetV2", "input_shape": [32, 32, 3], "trainable": "trainable"})
    assert 1 < picked(small, batch_size=8) <= MOST_STEPS
    assert picked(small, batch_size=8) > picked(small, batch_size=64)
    assert step_macs(analyze(small.graph), small.graph, ["label"], ["base"], 8) < step_macs(
        analyze(small.graph), small.graph, ["label"], [], 8)


def test_a_set_value_is_kept():
    b = classifier({"architecture": "ResNet50", "input_shape": [224, 224, 3], "trainable": "trainable"})
    assert steps_per_execution(4, analyze(b.graph), b.graph, ["label"], None, 32) == 4


def test_an_unknown_cost_gives_one_step_per_call():
    b = classifier({"architecture": "MobileNetV2", "input_shape": [32, 32, 3], "trainable": "trainable"})
    analysis = analyze(b.graph)
    analysis.nodes[b.ids["head"]].cost = None  # as for a layer whose arithmetic is unknown
    assert steps_per_execution(AUTO, analysis, b.graph, ["label"], None, 8) == 1


def test_auto_trains_the_same_losses_as_one_step_per_call_and_the_record_says_what_it_picked(tmp_path):
    histories, batches = {}, {}
    for steps in (AUTO, 1):
        sink = Recorder()
        ended = train(wine_regression(tmp_path / str(steps), steps_per_execution=steps, epochs=2), sink=sink)
        assert ended.status == events.FINISHED, ended.message + ended.details
        run = tmp_path / str(steps) / "wine.runs" / "run-001"
        histories[steps] = read_history(run)
        batches[steps] = [(b.step, b.global_step) for b in sink.of(events.BatchEnded)]
        record = json.loads((run / RECORD_FILE).read_text())
        assert record["settings"]["steps_per_execution"] == steps
        assert record["steps_per_execution"] == {"train": MOST_STEPS if steps == AUTO else 1}
    for auto, one in zip(histories[AUTO], histories[1], strict=True):
        assert auto.keys() == one.keys()
        np.testing.assert_allclose([auto[k] for k in auto if k != "phase"],
                                   [one[k] for k in one if k != "phase"], rtol=1e-4)
    assert batches[1] == [(s, s) for s in range(1, 10)] + [(s, 9 + s) for s in range(1, 10)]
    assert batches[AUTO] == [(9, 9), (9, 18)]  # 9 steps an epoch: one call each


def test_with_auto_a_paused_run_waits_and_a_stop_ends_it(tmp_path):
    project = wine_regression(tmp_path, epochs=1000)
    control, sink, first_batch = RunControl(), Recorder(), threading.Event()

    def watch(event):
        sink(event)
        if isinstance(event, events.BatchEnded):
            first_batch.set()

    control.pause()
    worker = threading.Thread(target=train, args=(project,), kwargs={"sink": watch, "control": control})
    worker.start()
    time.sleep(3)
    assert sink.of(events.BatchEnded) == [] and worker.is_alive()
    control.resume()
    assert first_batch.wait(60)
    control.stop()
    worker.join(30)
    assert not worker.is_alive()
    assert sink.of(events.RunEnded)[0].status == events.STOPPED
    assert len(sink.of(events.EpochEnded)) < 1000
