"""The sweep space, `training.sweep` (issue 18): checked like the rest of the setup with the place
named, written only when set, checked against the graph and phases before a sweep, and renamed
with its nodes."""

import pytest

from app.core.document.fileformat import from_dict, load, save
from app.core.document.project import Project
from app.core.document.sweep_space import problems
from app.core.document.training_setup import ConfigError, config_from_dict
from app.core.editing.builder import GraphBuilder
from app.core.editing.commands import CommandStack, Rename, edit_training

SPACE = {"trials": 12, "pruning": False, "objective": "loss", "parameters": [
    {"kind": "learning_rate", "low": 1e-4, "high": 1e-1},
    {"kind": "learning_rate", "low": 1e-5, "high": 1e-2, "phase": "tune"},
    {"kind": "batch_size", "choices": [16, 32, 64]},
    {"kind": "dropout", "node": "drop", "low": 0.0, "high": 0.5},
    {"kind": "units", "node": "hidden", "low": 16, "high": 256, "log": True},
    {"kind": "optimizer", "choices": ["adam", "sgd"]}]}


def project(sweep=None) -> Project:
    b = GraphBuilder()
    b.add("features", "Input", 0, 0, shape=[4])
    b.add("hidden", "Dense", 1, 0, units=8)
    b.add("drop", "Dropout", 2, 0, rate=0.2)
    b.add("score", "Output", 3, 0, loss="mean_squared_error")
    b.chain("features", "hidden", "drop", "score")
    training = {"phases": [{"name": "warm", "epochs": 1}, {"name": "tune", "epochs": 1}]}
    if sweep is not None:
        training["sweep"] = sweep
    return Project(b.graph, "tiny", training=config_from_dict(training))


def test_a_space_reads_with_every_key_filled_and_survives_save_and_load(tmp_path):
    sweep = project(SPACE).training.sweep
    assert sweep["trials"] == 12 and sweep["pruning"] is False and sweep["objective"] == "loss"
    assert sweep["timeout"] is None
    assert sweep["parameters"][0] == {"kind": "learning_rate", "low": 1e-4, "high": 1e-1, "phase": None}
    save(project(SPACE), tmp_path / "p.graft")
    assert load(tmp_path / "p.graft").training.sweep == sweep


def test_a_project_without_a_sweep_is_written_as_before():
    assert "sweep" not in project().training.to_dict()
    assert project().training.sweep is None


@pytest.mark.parametrize(("change", "where", "message"), [
    ({"parameters": [{"kind": "learning_rate", "low": 0, "high": 1e-1}]},
     "training.sweep.parameters[0].low", "expected a number > 0"),
    ({"parameters": [{}, {"kind": "learning_rate", "low": 1e-3, "high": 20}]},
     "training.sweep.parameters[0].kind", "expected one of learning_rate, batch_size"),
    ({"parameters": [{"kind": "batch_size", "choices": [16, 32]},
                     {"kind": "learning_rate", "low": 1e-3, "high": 20}]},
     "training.sweep.parameters[1].high", "expected a number >= 0 and <= 10, got 20"),
    ({"parameters": [{"kind": "batch_size", "choices": [16, 0]}]},
     "training.sweep.parameters[0].choices[1]", "expected an integer >= 1"),
    ({"parameters": [{"kind": "optimizer", "choices": ["adam", "lion"]}]},
     "training.sweep.parameters[0].choices[1]", 'expected one of "adam"'),
    ({"parameters": [{"kind": "dropout", "node": "drop", "low": 0.2, "high": 1.0}]},
     "training.sweep.parameters[0].high", "expected a number"),
    ({"parameters": [{"kind": "units", "node": "hidden", "low": 64, "high": 16}]},
     "training.sweep.parameters[0].high", "expected a value >= low (64), got 16"),
    ({"parameters": [{"kind": "dropout", "low": 0.1, "high": 0.2}]},
     "training.sweep.parameters[0]", "dropout needs 'node'"),
    ({"parameters": [{"kind": "batch_size", "choices": [16], "phase": "x"}]},
     "training.sweep.parameters[0].phase", "unknown field for batch_size"),
    ({"parameters": [{"kind": "batch_size", "choices": [16]}, {"kind": "batch_size", "choices": [8]}]},
     "training.sweep.parameters[1]", "searches batch_size a second time"),
    ({"trials": 0}, "training.sweep.trials", "expected an integer >= 1"),
    ({"objective": "accuracy"}, "training.sweep.objective", 'expected one of "val_loss", "loss"'),
    ({"budget": 3}, "training.sweep.budget", "unknown field (expected: objective, parameters"),
])
def test_a_bad_space_names_the_place(change, where, message):
    with pytest.raises(ConfigError) as error:
        config_from_dict({"sweep": {"parameters": []} | change})
    assert error.value.where == where
    assert message in error.value.message


def test_a_bad_space_in_a_file_is_a_project_error_naming_the_place():
    document = project().to_dict()
    document["training"]["sweep"] = {"parameters": [{"kind": "learning_rate", "low": -1, "high": 1}]}
    with pytest.raises(ValueError, match=r"training\.sweep\.parameters\[0\]\.low: expected a number"):
        from_dict(document)


def test_problems_name_missing_and_wrong_nodes_and_phases():
    sweep = config_from_dict({"sweep": {"parameters": [
        {"kind": "dropout", "node": "hidden", "low": 0.0, "high": 0.5},
        {"kind": "units", "node": "gone", "low": 8, "high": 16},
        {"kind": "trainable", "phase": "tune", "node": "hidden", "low": 0, "high": 4},
        {"kind": "learning_rate", "low": 1e-4, "high": 1e-2, "phase": "fine"}]}}).sweep
    tiny = project()
    found = problems(sweep, tiny.graph, tiny.training.phases)
    assert found == [
        "sweep parameter 1 (dropout[hidden]): 'hidden' is a Dense, not a Dropout node",
        "sweep parameter 2 (units[gone]): 'gone' is not a node of the graph",
        "sweep parameter 3 (trainable[tune/hidden]): 'hidden' is not a pretrained model, whose last "
        "layers could train",
        "sweep parameter 4 (learning_rate[fine]): there is no phase 'fine' (phases: 'warm', 'tune')"]
    assert problems(project(SPACE).training.sweep, tiny.graph, tiny.training.phases) == []


def test_the_runs_learning_rate_is_a_problem_when_every_phase_sets_its_own():
    tiny = project(SPACE)
    phases = [p.to_dict() | {"learning_rate": 0.01} for p in tiny.training.phases]
    setup = tiny.training.replaced(phases=phases)
    assert problems(setup.sweep, tiny.graph, setup.phases) == [
        "sweep parameter 1 (learning_rate): every phase sets its own learning rate, so the run's is "
        "never used; name the phase to search"]


def test_renaming_a_node_renames_it_in_the_space_and_undo_puts_it_back():
    tiny = project(SPACE)
    stack = CommandStack(tiny)
    stack.push(Rename(tiny.graph.node_by_name("drop").id, "dropout"))
    names = [entry.get("node") for entry in tiny.training.sweep["parameters"]]
    assert names == [None, None, None, "dropout", "hidden", None]
    stack.undo()
    assert tiny.training.sweep["parameters"][3]["node"] == "drop"


def test_an_edit_of_the_space_is_undoable_and_clearing_it_removes_it():
    tiny = project(SPACE)
    stack = CommandStack(tiny)
    stack.push(edit_training(tiny.training, "Change sweep", sweep=None))
    assert tiny.training.sweep is None and "sweep" not in tiny.training.to_dict()
    stack.undo()
    assert tiny.training.sweep["trials"] == 12


def test_the_default_space_searches_the_learning_rates_the_phases_use():
    from app.core.document.sweep_space import default_space, parameter_name
    from app.core.document.training_setup import SETTINGS, Phase

    def names(phases) -> list[str]:
        space = default_space(SETTINGS, phases)
        assert not problems(space, project().graph, phases)
        return [parameter_name(entry) for entry in space["parameters"]]

    assert names([]) == ["learning_rate", "batch_size"]  # no phases: the run's
    own = [Phase("warm", 1, learning_rate=1e-2), Phase("tune", 1, learning_rate=1e-4)]
    assert names(own) == ["learning_rate[warm]", "learning_rate[tune]", "batch_size"]  # the run's is unused
    mixed = [Phase("warm", 1), Phase("tune", 1, learning_rate=1e-4)]
    assert names(mixed) == ["learning_rate", "learning_rate[tune]", "batch_size"]
