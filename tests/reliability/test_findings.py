"""Issue 16's findings, each reproduced by a test before its fix: a malformed project is
refused with its place named, never a traceback."""

import json

import pytest

from app.core.document.fileformat import ProjectError, from_dict
from app.core.document.project import changed_models
from app.core.graph.graph import GraphError, check_name
from tests.conftest import EXAMPLES


def example_document(name: str = "cascade") -> dict:
    return json.loads((EXAMPLES / f"{name}.graft").read_text(encoding="utf-8"))


def test_a_card_naming_a_node_that_is_no_pretrained_model_is_refused_with_its_place():
    """It loaded, then `changed_models` failed with AttributeError ('Output' has no card_key)."""
    document = example_document("cascade")
    output = next(n["id"] for n in document["nodes"] if n["type"] == "Output")
    document["cards"][0]["nodes"] = [output]
    with pytest.raises(ProjectError, match=r"cards\[0\]\.nodes\[0\]: node .* is not a pretrained model"):
        changed_models(from_dict(document))


@pytest.mark.parametrize("name", ["head\n", "head\r\n", "\nhead"])
def test_a_name_with_a_newline_is_refused(name):
    with pytest.raises(GraphError, match="invalid node name"):
        check_name(name)

