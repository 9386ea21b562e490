"""The bundled examples that no other test trains: the parallel fusion, the shared trunk with
two heads, and the broken example once every one of its fixes is applied. Each trains to the
end with finite losses, and exactly the weights that should learn change: the frozen
pretrained models' stay as they were, the trainable ones' move."""

from __future__ import annotations

import numpy as np
import pytest

from app.core.analysis.validate import analyze
from app.core.document.fileformat import load, save
from app.core.editing.commands import CommandStack, RemoveNodes, apply_fix
from app.core.training import events, run
from app.core.training.runner import load_trained_model, train
from tests.conftest import EXAMPLES
from tests.core.test_training import Recorder, example_copy


def variables(model) -> dict:
    """Each variable of a compiled model, keyed (node layer, its path inside it): the nested
    models of two nodes may have layers of the same name."""
    return {(layer.name, v.path): v for layer in model.layers for v in layer.weights}


@pytest.fixture
def initial_weights(monkeypatch) -> dict:
    """Every variable of the model a run compiles, as it was before training."""
    found = {}
    compile_graph = run.compile_graph

    def compiling(*args, **kwargs):
        compiled = compile_graph(*args, **kwargs)
        found.update({key: np.array(v.numpy()) for key, v in variables(compiled.model).items()})
        return compiled

    monkeypatch.setattr(run, "compile_graph", compiling)
    return found


def trains_what_it_should(project, initial: dict, epochs: int = 1) -> dict[tuple[str, str], bool]:
    """Train `project`; check it finished with finite losses and that a variable changed
    exactly when it is trainable; returns which variables changed."""
    sink = Recorder()
    ended = train(project, sink=sink, epochs=epochs)
    assert ended.status == events.FINISHED, ended.message + ended.details
    losses = [b.loss for b in sink.of(events.BatchEnded)]
    assert losses and np.all(np.isfinite(losses))
    assert all(np.isfinite(e.logs["loss"]) and np.isfinite(e.logs["val_loss"])
               for e in sink.of(events.EpochEnded))
    reopened = load(project.path)
    reopened.training.weights = ended.weights
    trained = variables(load_trained_model(reopened).model)
    assert set(trained) == set(initial)
    changed = {key: not np.array_equal(initial[key], v.numpy()) for key, v in trained.items()}
    trainable = {key for key, v in trained.items() if v.trainable}  # under the nodes' own freezing
    assert trainable and {key for key, moved in changed.items() if moved} == trainable
    return changed


def test_the_parallel_example_trains_its_head_on_both_frozen_models(tmp_path, initial_weights):
    project = example_copy("parallel", tmp_path)
    changed = trains_what_it_should(project, initial_weights)
    moved = {key for key, moved in changed.items() if moved}
    assert moved == {("head", "head/kernel"), ("head", "head/bias")}
    assert {node for node, _ in changed} == {"cnn", "encoder", "head"}


def test_the_shared_base_example_trains_both_heads_and_the_trunks_last_layer(tmp_path, initial_weights):
    project = example_copy("shared_base", tmp_path)
    changed = trains_what_it_should(project, initial_weights)
    moved = {(node, path.split("/")[0]) for (node, path), moved in changed.items() if moved}
    assert moved == {("digit_head", "digit_head"), ("parity_head", "parity_head"), ("trunk", "features")}


def fixed_broken_example(tmp_path, remove_unused_input: bool):
    """The broken example with every error's fix applied, as the editor's fix buttons do, and
    data for each Input and Output: the digits, 12 token ids, 4 extra numbers and a topic."""
    project = load(EXAMPLES / "broken.graft")
    stack = CommandStack(project)
    fixes = [p.fix for p in analyze(project.graph, project.context).errors]
    assert len(fixes) == 3 and all(fixes)
    for fix in fixes:
        stack.push(apply_fix(project.graph, fix))
    analysis = analyze(project.graph, project.context)
    assert analysis.ok and sorted(p.code for p in analysis.problems) == ["unreachable", "unused_input"]
    assert sorted(n.type for n in project.graph.nodes[-3:]) == ["Cast", "Flatten", "GlobalAveragePooling2D"]
    mapping = {"pixels": "images", "tokens": "tokens", "extra": "extra",
               "mlp_digit": "labels", "digit": "labels", "topic": "topics"}
    if remove_unused_input:  # its warning has no fix: a user deletes it
        stack.push(RemoveNodes([project.graph.node_by_name("extra").id]))
        del mapping["extra"]
    digits = np.load(EXAMPLES.parent / "data" / "digits.npz")
    rng = np.random.default_rng(0)
    count = len(digits["labels"])
    np.savez(tmp_path / "mixed.npz", images=digits["images"], labels=digits["labels"],
             tokens=rng.integers(0, 100, (count, 12)).astype("float32"),
             extra=rng.random((count, 4), dtype=np.float32), topics=rng.integers(0, 16, count))
    save(project, tmp_path / "fixed.graft")
    project = load(tmp_path / "fixed.graft")  # the data path is relative to the project's folder
    project.training.data.update(source="npz", path="mixed.npz", validation_path=None, mapping=mapping)
    save(project, project.path)
    return project


def test_the_broken_example_trains_once_every_fix_is_applied(tmp_path, initial_weights):
    changed = trains_what_it_should(fixed_broken_example(tmp_path, remove_unused_input=True), initial_weights)
    assert {node for (node, _), moved in changed.items() if moved} == {"head", "embed"}
    assert "orphan" not in {node for node, _ in changed}  # reaches no Output: left out


def test_the_broken_example_trains_once_every_fix_is_applied_even_with_its_unused_input(
        tmp_path, initial_weights):
    trains_what_it_should(fixed_broken_example(tmp_path, remove_unused_input=False), initial_weights)
