"""Issue 16: every numeric parameter has a range Keras and the machine can honour.

Before, a Resizing of 1e9 × 1e9 pixels, a ChannelProjection of 1e9 filters or an epsilon of 0
loaded and validated, then failed in compile or fit (out of memory, a negative dimension, a
NaN loss). The sweep of benchmarks/reliability_bounds.py gives every numeric parameter of
every node type absurd values; each must be refused, at load naming the node's place and the
parameter, or at validation naming the node, unless it is a listed harmless choice."""

from __future__ import annotations

import re

import pytest

from app.core.analysis import memory
from app.core.document.fileformat import ProjectError, from_dict
from app.core.editing.commands import CommandStack, SetParams
from app.core.graph.params import FLOAT, INT, INTS, SHAPE, ParamError
from app.core.nodes import REGISTRY
from benchmarks import reliability_bounds as bounds


@pytest.fixture(scope="module")
def results():
    return bounds.sweep()


def test_every_node_type_is_fed_so_each_of_its_parameters_is_swept():
    assert set(bounds.FEEDS) == set(REGISTRY), "add the new node type to FEEDS"
    swept = {(c.type_name, c.param) for c in bounds.cases()}
    assert swept >= {(t, p.name) for t, kind in REGISTRY.items() for p in kind.params
                     if p.kind in (INT, FLOAT, SHAPE, INTS)}
    assert len(bounds.cases()) > 400


def test_every_numeric_parameter_declares_its_whole_range():
    """The schema is the one place ranges live: the loader, the editor's fields and the docs
    read it, so a bound missing here is missing everywhere."""
    for type_name, kind in REGISTRY.items():
        for param in kind.params:
            where = f"{type_name}.{param.name}"
            if param.kind in (INT, FLOAT):
                assert param.minimum is not None and param.maximum is not None, where
            if param.kind in (SHAPE, INTS):
                assert param.maximum is not None, f"{where}: no longest list"
                assert param.item_minimum is not None and param.item_maximum is not None, where


def test_no_absurd_value_is_accepted_and_no_harmless_one_refused(results):
    bad = [f"{case.label}: {result.verdict} {result.message[:120]}"
           for case, result in results if result.verdict in bounds.FAILING]
    assert not bad, f"{len(bad)} of {len(results)}:\n" + "\n".join(bad[:40])


def test_a_refusal_at_load_names_the_node_and_parameter_on_one_short_line(results):
    for case, result in results:
        if result.verdict == bounds.LOAD:
            assert result.where in result.message, (case.label, result.message)
            assert "\n" not in result.message and len(result.message) <= 300, case.label


def test_a_refusal_at_validation_names_the_node(results):
    refused = [(case, r) for case, r in results if r.verdict == bounds.VALIDATION]
    assert refused  # Concatenate's axis 0 (the batch axis) is one
    for case, result in refused:
        assert re.search(r"'target'|→ target\.", result.message), (case.label, result.message)


@pytest.mark.parametrize("type_name, param, value, limit", [
    ("Resizing", "height", 10**9, "<= 8192"),
    ("Resizing", "width", 1e12, "<= 8192"),
    ("ChannelProjection", "filters", 10**9, "<= 65536"),
    ("BatchNormalization", "epsilon", 0, ">= 1e-12"),
    ("LayerNormalization", "epsilon", 1e-320, ">= 1e-12"),
    ("Rescaling", "scale", 1e308, "<= 1000000"),
    ("Rescaling", "offset", -1e308, ">= -1000000"),
])
def test_the_values_of_the_findings_are_refused_with_their_limit(type_name, param, value, limit):
    """Each was accepted before (and failed in compile or fit, or gave a NaN loss)."""
    document, index = bounds.document_with(bounds.Case(type_name, param, value))
    with pytest.raises(ProjectError) as refused:
        from_dict(document)
    message = str(refused.value)
    assert message.startswith(f"nodes[{index}].params.{param}: expected ")
    assert limit in message


def test_a_huge_integer_is_quoted_as_written_not_as_its_309_digits():
    document, _ = bounds.document_with(bounds.Case("Dense", "units", 1e308))
    with pytest.raises(ProjectError, match=r"got 1e\+308$"):
        from_dict(document)


def test_the_editor_refuses_an_out_of_range_value_before_anything_changes():
    document, index = bounds.document_with(bounds.Case("Resizing", "height", 224))
    project = from_dict(document)
    node = project.graph.node_by_name("target")
    with pytest.raises(ParamError, match=r"height: expected an integer >= 1 and <= 8192, got 100000"):
        CommandStack(project).push(SetParams(node.id, {"height": 100_000}))
    assert project.graph.node(node.id).params["height"] == 224


@pytest.mark.parametrize("value", [[10**9, 8], [0, 8], [8] * 9])
def test_list_parameters_are_bounded_item_by_item_and_in_length(value):
    document, index = bounds.document_with(bounds.Case("Input", "shape", value))
    with pytest.raises(ProjectError, match=rf"^nodes\[{index}\]\.params\.shape: expected "):
        from_dict(document)


def test_a_keras_layer_config_with_a_size_no_layer_needs_is_refused_at_load():
    """Validation builds the layer to learn its shapes: a Dense of 1e9 units would allocate its
    weights right there."""
    document, index = bounds.document_with(bounds.Case("KerasLayer", bounds.CONFIG_UNITS, 10**9))
    with pytest.raises(ProjectError, match=rf"^nodes\[{index}\]\.params\.config: .*units"):
        from_dict(document)


def test_values_each_within_bounds_that_together_need_terabytes_are_refused_by_validation():
    """The bounds stop absurd values; what fits in the bounds but not in the machine (an 8192 ×
    8192 image of 65,536 channels) is the memory estimate's to refuse, naming the node."""
    if memory.machine_memory() is None:
        pytest.skip("this system does not say how much memory it has")
    for label, message in bounds.oversized():
        assert message and "more than this machine's" in message, label


def test_every_number_of_the_training_setup_declares_its_whole_range():
    """A learning rate of 1e300 or a loss weighed 1e300 loaded, then gave a NaN loss at once."""
    from app.core.document.training_setup import PHASE, SETTINGS

    for param in SETTINGS + PHASE:
        if param.kind in (INT, FLOAT):
            assert param.minimum is not None and param.maximum is not None, param.name


@pytest.mark.parametrize("change, where", [
    ({"settings": {"learning_rate": 1e300}}, "training.settings.learning_rate"),
    ({"phases": [{"name": "a", "learning_rate": 11}]}, "training.phases[0].learning_rate"),
    ({"phases": [{"name": "a", "losses": {"y": 1e300}}]}, "training.phases[0].losses.y"),
    ({"phases": [{"name": "a", "lr_multipliers": {"d": 1e7}}]}, "training.phases[0].lr_multipliers.d"),
])
def test_an_absurd_training_number_is_refused_at_load_with_its_place(change, where):
    from app.core.document.training_setup import ConfigError, config_from_dict

    with pytest.raises(ConfigError) as caught:
        config_from_dict(change)
    assert str(caught.value).startswith(f"{where}: expected")
