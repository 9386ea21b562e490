"""ONNX export as its users meet it: every example comes out as an .onnx file that onnxruntime
runs to the editor's predictions, under the graph's own Input and Output names; without the
optional extra the export says how to install it, and without onnxruntime the file is written
but reported unchecked."""

import sys

import numpy as np
import pytest

import app.core.export.common
from app.core.build.compile import compile_graph
from app.core.document.fileformat import load
from app.core.export.common import ONNX, ExportError, sample_batch
from app.core.export.onnx import export_onnx
from app.core.nodes.base import INPUT, OUTPUT
from tests.conftest import EXAMPLES
from tests.core.export_graphs import EXAMPLE_NAMES, ids_and_features, in_app, names_of


def from_onnx(path, model, sample) -> tuple[dict[str, np.ndarray], object]:
    """What onnxruntime predicts from the file, fed and fetched by the graph's node names."""
    onnxruntime = pytest.importorskip("onnxruntime")
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    got = session.run(names, {t.name: x for t, x in zip(model.inputs, sample)})
    return dict(zip(names, got)), session


def hide_module(monkeypatch, name: str) -> None:
    """Make `import name` fail as it does where the package is not installed."""
    monkeypatch.setitem(sys.modules, name, None)


def test_without_the_extra_the_export_says_how_to_install_it(tmp_path, monkeypatch):
    hide_module(monkeypatch, "tf2onnx")
    project = load(EXAMPLES / "transfer.graft")
    with pytest.raises(ExportError, match=r"ONNX export needs the optional extra: "
                                          r"pip install 'graft-studio\[onnx\]'"):
        export_onnx(project, tmp_path / "transfer.onnx")
    assert list(tmp_path.iterdir()) == []


def test_a_name_without_onnx_suffix_is_refused(tmp_path):
    with pytest.raises(ExportError, match=r"model.keras: an ONNX model file must end in \.onnx"):
        export_onnx(load(EXAMPLES / "transfer.graft"), tmp_path / "model.keras")


@pytest.mark.parametrize("name", EXAMPLE_NAMES)
def test_every_example_exports_to_onnx_that_predicts_what_the_editor_predicts(name, tmp_path):
    pytest.importorskip("tf2onnx")
    pytest.importorskip("onnxruntime")
    project = load(EXAMPLES / f"{name}.graft")
    model = compile_graph(project.graph, project.context).model
    sample = sample_batch(model)
    expected = in_app(model, sample)

    report = export_onnx(project, tmp_path / f"{name}.onnx", model=model)
    assert report.ok and report.format == ONNX and report.max_abs_difference <= 1e-5, report.message
    assert report.message.startswith(f"ONNX model written to {tmp_path / name}.onnx; reloaded with "
                                     "onnxruntime, predictions match")
    got, session = from_onnx(tmp_path / f"{name}.onnx", model, sample)
    assert [i.name for i in session.get_inputs()] == names_of(project.graph, INPUT)
    assert sorted(got) == sorted(names_of(project.graph, OUTPUT))
    for output, value in expected.items():
        np.testing.assert_allclose(got[output], value, rtol=0, atol=1e-5, err_msg=output)
    assert [p.name for p in tmp_path.iterdir()] == [f"{name}.onnx"]  # no staging left behind


def test_several_inputs_and_integer_ids_keep_their_names_and_types(tmp_path):
    pytest.importorskip("tf2onnx")
    project = ids_and_features()
    model = compile_graph(project.graph).model
    sample = sample_batch(model)
    report = export_onnx(project, tmp_path / "mixed.onnx", model=model)
    assert report.ok, report.message
    got, session = from_onnx(tmp_path / "mixed.onnx", model, sample)
    assert [(i.name, i.type) for i in session.get_inputs()] == [("tokens", "tensor(int32)"),
                                                                ("extra", "tensor(float)")]
    np.testing.assert_allclose(got["label"], in_app(model, sample)["label"], rtol=0, atol=1e-5)


def test_without_onnxruntime_the_file_is_written_and_reported_unchecked(tmp_path, monkeypatch):
    pytest.importorskip("tf2onnx")
    hide_module(monkeypatch, "onnxruntime")
    report = export_onnx(load(EXAMPLES / "shared_base.graft"), tmp_path / "shared.onnx")
    assert report.ok and np.isnan(report.max_abs_difference)
    assert report.message == (f"ONNX model written to {tmp_path / 'shared.onnx'}, but not checked: "
                              "onnxruntime is not installed. To check exports, install it: "
                              "pip install onnxruntime")
    assert (tmp_path / "shared.onnx").stat().st_size > 1000


def test_an_export_whose_check_fails_leaves_the_earlier_file_in_place(tmp_path, monkeypatch):
    pytest.importorskip("tf2onnx")
    pytest.importorskip("onnxruntime")
    target = tmp_path / "transfer.onnx"
    target.write_bytes(b"an earlier export")
    monkeypatch.setattr(app.core.export.common, "TOLERANCE", -1.0)  # no difference is small enough
    report = export_onnx(load(EXAMPLES / "transfer.graft"), target)
    assert not report.ok
    assert report.message.startswith(f"ONNX model not written to {target}: reloaded with onnxruntime, "
                                     "its predictions differ")
    assert target.read_bytes() == b"an earlier export"
    assert [p.name for p in tmp_path.iterdir()] == ["transfer.onnx"]
