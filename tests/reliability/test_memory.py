"""Issue 16: a node too big for the machine is an error before compile, and TensorFlow's own
out-of-memory and out-of-range failures reach the user as one readable line.

Before, a graph whose layer needed terabytes validated cleanly and failed in compile or fit
with `{{function_node __wrapped__…}} OOM when allocating…` or `Can't convert Python
sequence with out-of-range integer`."""

from __future__ import annotations

import pytest

from app.core.analysis import memory
from app.core.analysis.validate import ERROR, analyze
from app.core.document.project import Project
from app.core.document.training_setup import config_from_dict
from app.core.editing.builder import GraphBuilder
from app.core.nodes import Context

GB = 2**30


@pytest.fixture
def machine_of(monkeypatch):
    """Pretend this machine has `size` bytes of memory."""
    def pretend(size: int):
        monkeypatch.setattr(memory, "machine_memory", lambda: size)
    return pretend


def chain(*nodes) -> GraphBuilder:
    b = GraphBuilder()
    for name, type_name, params in nodes:
        b.add(name, type_name, **params)
    b.chain(*(name for name, _, _ in nodes))
    return b


def too_big(analysis):
    return [p for p in analysis.problems if p.code == "too_big"]


def test_this_machine_says_how_much_memory_it_has():
    size = memory.machine_memory()
    assert size is None or size > 256 * 2**20
    assert memory.human(11.2 * 2**40) == "11.2 TB" and memory.human(512) == "512 bytes"


def test_an_output_larger_than_the_machine_is_an_error_naming_node_size_and_memory(machine_of):
    """4096 × 4096 pixels of 65,536 channels are 4 TB a sample."""
    machine_of(16 * GB)
    b = chain(("image", "Input", {"shape": [4096, 4096, 3]}),
              ("wide", "ChannelProjection", {"filters": 65536}),
              ("pool", "GlobalAveragePooling2D", {}), ("label", "Output", {}))
    problems = too_big(analyze(b.graph))
    assert len(problems) == 1  # the pooling after it is not blamed too
    (problem,) = problems
    assert problem.severity == ERROR and problem.node_id == b.ids["wide"]
    assert problem.message.startswith("'wide' outputs 4,096×4,096×65,536 float32 values = 4.0 TB "
                                      "per sample, more than this machine's 16.0 GB of memory")
    assert "make it smaller" in problem.message
    assert "\n" not in problem.message and len(problem.message) <= 300


def test_weights_larger_than_the_machine_are_an_error(machine_of):
    """A Dense of a million units after a flattened image: 150,528 × 1,048,576 weights."""
    machine_of(16 * GB)
    b = chain(("image", "Input", {"shape": [224, 224, 3]}), ("flat", "Flatten", {}),
              ("huge", "Dense", {"units": 2**20}), ("label", "Output", {}))
    (problem,) = too_big(analyze(b.graph))
    assert problem.node_id == b.ids["huge"]
    assert problem.message.startswith("'huge' has 157,841,096,704 weights (588.0 GB as float32), "
                                      "more than this machine's 16.0 GB of memory")


def test_the_output_is_checked_at_the_projects_batch_size(machine_of):
    """8192 × 8192 × 3 floats are 768 MB a sample: fine alone, not 32 at a time in 16 GB."""
    machine_of(16 * GB)
    b = chain(("image", "Input", {"shape": [64, 64, 3]}),
              ("resize", "Resizing", {"height": 8192, "width": 8192}),
              ("pool", "GlobalAveragePooling2D", {}), ("label", "Output", {}))
    assert too_big(analyze(b.graph)) == []
    project = Project(b.graph, training=config_from_dict({"settings": {"batch_size": 32}}))
    (problem,) = too_big(analyze(b.graph, project.context))
    assert "= 24.0 GB for a batch of 32," in problem.message and problem.node_id == b.ids["resize"]


def test_a_graph_that_fits_has_no_memory_problem_and_unknown_sizes_count_as_one(machine_of):
    machine_of(1 * GB)
    b = chain(("tokens", "Input", {"shape": [None], "dtype": "int32"}),
              ("embed", "Embedding", {"input_dim": 1000, "output_dim": 64}),
              ("label", "Output", {}))
    assert analyze(b.graph, Context(batch_size=1024)).ok


def test_nothing_is_refused_where_the_machine_does_not_say_its_memory(machine_of):
    machine_of(None)
    b = chain(("image", "Input", {"shape": [224, 224, 3]}), ("flat", "Flatten", {}),
              ("huge", "Dense", {"units": 2**20}), ("label", "Output", {}))
    assert too_big(analyze(b.graph)) == []


# -- TensorFlow's failures, told plainly ------------------------------------------------------

def _oom():
    import tensorflow as tf

    return tf.errors.ResourceExhaustedError(
        None, None, "{{function_node __wrapped__Mul_device_/job:localhost/replica:0/task:0/"
        "device:CPU:0}} OOM when allocating tensor with shape[32,100000,100000] and type float")


def _out_of_range():
    return ValueError("Can't convert Python sequence with out-of-range integer to int32 Tensor.")


@pytest.fixture
def wine(tmp_path):
    from tests.core.test_training import wine_regression

    return wine_regression(tmp_path / "wine")


@pytest.mark.parametrize("error, expected", [
    (_oom, "training ran out of memory: this model needs more than the machine"),
    (_out_of_range, "training failed: a size is too large for TensorFlow's integers; the largest "
                    "is hidden.units = 16"),
])
def test_a_tensorflow_failure_in_fit_is_told_in_words_with_the_traceback_kept(
        wine, monkeypatch, error, expected):
    """Before, the message was TensorFlow's own: `training failed: ResourceExhaustedError:
    {{function_node __wrapped__…}} OOM when allocating…`."""
    import keras

    from app.core.training.events import FAILED
    from app.core.training.runner import train

    raised = error()

    def fit(*args, **kwargs):
        raise raised

    monkeypatch.setattr(keras.Model, "fit", fit)
    ended = train(wine, out_dir=wine.folder / "run")
    assert ended.status == FAILED
    assert ended.message.startswith(expected), ended.message
    assert "function_node" not in ended.message and "\n" not in ended.message
    assert "Traceback" in ended.details and type(raised).__name__ in ended.details


def test_another_failure_in_fit_keeps_its_own_text(wine, monkeypatch):
    import keras

    from app.core.training.runner import train

    def fit(*args, **kwargs):
        raise RuntimeError("the disk caught fire")

    monkeypatch.setattr(keras.Model, "fit", fit)
    ended = train(wine, out_dir=wine.folder / "run")
    assert ended.message == "training failed: RuntimeError: the disk caught fire"


def test_a_layer_out_of_memory_while_compiling_says_which_node_and_what_to_do(monkeypatch):
    from app.core.build.compile import CompileError, compile_graph
    from app.core.nodes.adapters import Dense

    raised = _oom()

    def make_layer(self, params, name):
        raise raised

    monkeypatch.setattr(Dense, "make_layer", make_layer)
    b = chain(("x", "Input", {"shape": [8]}), ("head", "Dense", {"units": 4}),
              ("y", "Output", {}))
    with pytest.raises(CompileError) as refused:
        compile_graph(b.graph)
    message = str(refused.value)
    assert message.startswith("building 'head' (Dense) ran out of memory: this model needs more")
    assert "function_node" not in message and "\n" not in message


def test_the_largest_number_of_a_graph_is_found_in_lists_and_layer_configs_too():
    b = GraphBuilder()
    b.add("x", "Input", shape=[5000])
    b.add("layer", "KerasLayer", class_name="Dense", config={"units": 7, "inner": {"size": 90000}})
    assert memory.largest_number(b.graph) == ("layer.config.inner.size", 90000)
    b.add("r", "Resizing", height=8000)
    assert memory.largest_number(b.graph) == ("layer.config.inner.size", 90000)
    b.add("y", "Input", shape=[None, 100000])
    assert memory.largest_number(b.graph) == ("y.shape", 100000)
