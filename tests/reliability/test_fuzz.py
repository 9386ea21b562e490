"""Reliability experiment 1, the fast part: seeded mutants of every example either load,
validate and save again, or are refused with one line of at most 300 characters, within 10 s
each (the full run is benchmarks/reliability_fuzz.py). Below it, each bug the fuzzer found,
reproduced by its smallest case."""

import json
import time

import pytest

from app.core.document.fileformat import ProjectError, loads
from app.core.graph.graph import MAX_NAME
from benchmarks.reliability_fuzz import (
    LOADED,
    QUICK_BIG_SIZES,
    QUICK_PER_EXAMPLE,
    REFUSED,
    mutants,
    one_line,
    run,
)
from tests.conftest import EXAMPLES


def test_seeded_mutants_of_every_example_load_or_are_refused_in_one_line():
    start = time.perf_counter()
    results = run(mutants(QUICK_PER_EXAMPLE, QUICK_BIG_SIZES, 1))
    failed = [f"{m.label}: {o.status}: {o.detail}" for m, o in results.failures]
    assert not failed, "\n".join(failed)
    assert results.count(LOADED) > 30 and results.count(REFUSED) > 50  # both paths were taken
    assert any(m.kind == "10,000-node graph" and o.status == LOADED for m, o in results.outcomes)
    assert time.perf_counter() - start < 60


def document(name: str = "cascade") -> dict:
    return json.loads((EXAMPLES / f"{name}.graft").read_text(encoding="utf-8"))


def refusal(text: str) -> str:
    """The one message a file is refused with; it must fit the limits."""
    with pytest.raises(ProjectError) as refused:
        loads(text)
    message = str(refused.value)
    assert one_line(message), f"{len(message)} characters: {message[:400]!r}"
    return message


LONG = "k" * 2000


def with_key(path: list, key: str = LONG):
    """The document with `key` added to the object at `path`."""
    def mutate(d):
        target = d
        for step in path:
            target = target[step]
        target[key] = 1
    return mutate


@pytest.mark.parametrize(("mutate", "starts"), [
    # A key of 2,000 characters was printed whole as the place (2,069–2,191 characters).
    (with_key([]), "kkkk"),
    (with_key(["nodes", 0]), "nodes[0].kkkk"),
    (with_key(["nodes", 0, "params"]), "nodes[0].params.kkkk"),
    (with_key(["training"]), "training.kkkk"),
    (with_key(["training", "settings"]), "training.settings.kkkk"),
    (with_key(["cards", 0, "card"]), "cards[0].card.kkkk"),
    (with_key(["cards", 0, "card", "layers", 0]), "cards[0].card.layers[0].kkkk"),
    # A key with a newline gave a message over two lines (training and cards named their
    # places without quoting the key).
    (with_key(["training"], "a\nb"), 'training["a\\nb"]'),
    (with_key(["training", "settings"], "a\nb"), 'training.settings["a\\nb"]'),
    (with_key(["cards", 0, "card"], "a\nb"), 'cards[0].card["a\\nb"]'),
    (with_key(["cards", 0, "card", "inputs", 0], "a\nb"), 'cards[0].card.inputs[0]["a\\nb"]'),
])
def test_a_refusal_naming_an_odd_key_stays_one_short_line(mutate, starts):
    d = document()
    mutate(d)
    assert refusal(json.dumps(d)).startswith(starts)


def test_a_value_nested_deep_inside_a_list_is_refused_in_one_short_line():
    """Each level was named: `edges[3].id[0][0][0]…` 100 times over, 400 characters and more."""
    text = json.dumps(document()).replace('"e3"', "[" * 150 + "1" + "]" * 150, 1)
    message = refusal(text)
    assert message.startswith("edges[2].id[0][0]")
    assert "nested deeper than 100 levels" in message


def test_an_unknown_node_type_is_refused_in_one_short_line():
    """The message listed all 32 node types: 437 characters."""
    d = document()
    d["nodes"][2]["type"] = "Dence"
    message = refusal(json.dumps(d))
    assert message.startswith('nodes[2].type: unknown node type "Dence"')
    assert 'did you mean "Dense"' in message  # the likely one is still suggested


@pytest.mark.parametrize("long", ["port", "source"])
def test_a_second_edge_into_a_port_is_refused_in_one_short_line(long):
    """The graph's message quoted the port and the source node's name whole (2,085 characters)."""
    d = document()
    first = d["edges"][0]
    if long == "port":
        first["to"]["port"] = LONG
    else:
        source = next(n for n in d["nodes"] if n["id"] == first["from"]["node"])
        source["name"] = "a" * MAX_NAME  # the longest a name may be
    d["edges"].append({"id": "again", "from": dict(first["from"]), "to": dict(first["to"])})
    message = refusal(json.dumps(d))
    assert message.startswith(f"edges[{len(d['edges']) - 1}].to: ")
    assert "already receives" in message


def test_a_second_phase_of_a_long_name_is_refused_in_one_short_line():
    """The repeated phase name was quoted whole."""
    d = document()
    d["training"]["phases"][1]["name"] = d["training"]["phases"][0]["name"] = LONG
    assert refusal(json.dumps(d)).startswith("training.phases[1].name: a second phase named")


@pytest.mark.parametrize("number", ["1e400", "-1e400", "1" + "0" * 400 + ".5"])
def test_a_number_too_large_for_a_float_is_refused_with_its_place(number):
    """It became inf: a card key holding 1e400 opened, then every save failed (ValueError:
    Out of range float values are not JSON compliant)."""
    text = json.dumps(document()).replace('"digits_cnn.keras"', number, 1)
    message = refusal(text)
    assert message.startswith("cards[0].key.source: ")
    assert "finite number" in message


def test_an_integer_of_thousands_of_digits_is_refused_with_its_place():
    """Python's own limit refused it without a place, advising sys.set_int_max_str_digits()."""
    text = json.dumps(document()).replace('"digits_cnn.keras"', "9" * 5000, 1)
    message = refusal(text)
    assert message.startswith("cards[0].key.source: ") and "5,000 digits" in message
    assert "sys." not in message


ODD_NAME = "digits\u2029cnn\x85.keras"  # a paragraph separator and a NEL: both break lines


def test_a_missing_model_file_with_a_line_break_in_its_name_is_named_on_one_line(tmp_path):
    """Validation said `model file not found: …/digits` and `cnn.keras; fix the path…` on the
    next line."""
    from tests.reliability.test_findings import model_file_problems

    problems = model_file_problems(ODD_NAME, tmp_path)
    assert any("model file not found: " in m for m in problems), problems
    assert all(one_line(m) for m in problems), problems


def test_a_changed_model_file_with_a_line_break_in_its_name_is_named_on_one_line():
    """Opening the project warned `its model file digits` / `cnn.keras is missing` over lines."""
    from app.core.document.project import changed_models

    d = document()
    d["nodes"][1]["params"]["path"] = f"../models/{ODD_NAME}"
    project = loads(json.dumps(d))
    project.folder = EXAMPLES  # where the other model paths lead
    [message] = changed_models(project)
    assert "is missing" in message and one_line(message), message
