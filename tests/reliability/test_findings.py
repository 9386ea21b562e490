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



def test_a_npz_of_random_bytes_is_refused_without_numpys_pickle_advice(tmp_path):
    """Reading its arrays for a run described it as pickled data, with numpy's advice to load
    it with allow_pickle, which Graft must never give."""
    from app.core.training.sources import DataError, load_table

    (tmp_path / "noise.npz").write_bytes(bytes(range(256)) * 8)
    with pytest.raises(DataError) as refused:
        load_table("npz", tmp_path / "noise.npz", {"x"})
    message = str(refused.value)
    assert "noise.npz is not a readable NumPy .npz file" in message
    assert "pickle" not in message.lower()


@pytest.mark.parametrize("source", ["npz", "csv"])
def test_a_data_path_that_is_a_folder_says_so(tmp_path, source):
    from app.core.training.sources import DataError, fields

    (tmp_path / "data").mkdir()
    with pytest.raises(DataError, match=rf"is a folder; set the data path to a \.{source} file"):
        fields({"source": source, "path": "data"}, tmp_path)


def test_an_error_never_echoes_a_huge_value_whole():
    """One message was 100,147 characters: the value is shortened, its length said."""
    from app.core.graph.params import describe

    text = describe("x" * 100_000)
    assert len(text) < 200 and "100,002 characters" in text
    assert describe([1, 2]) == "[1, 2]"


def test_a_csv_cell_that_is_no_number_is_quoted_plainly(tmp_path):
    """The message showed numpy's repr, np.str_('abc')."""
    from app.core.training.sources import DataError, load_table

    (tmp_path / "t.csv").write_text("a,b\n1,abc\n", encoding="utf-8")
    table = load_table("csv", tmp_path / "t.csv", {"b"})
    with pytest.raises(DataError) as refused:
        table.numbers("b", "Input 'x'")
    assert "holds 'abc', which is not a number" in str(refused.value)
    assert "np.str_" not in str(refused.value)


def test_the_next_save_removes_the_temporary_file_a_killed_save_left(tmp_path):
    """Killed saves left hidden `.NAME.*.tmp` files that were never cleaned up (186 MB after 110)."""
    from app.core.document.atomic import atomic_write_text

    target = tmp_path / "p.graft"
    left = tmp_path / ".p.graft.0a1b2c3d.tmp"
    left.write_text("half a project")
    other = tmp_path / ".q.graft.0a1b2c3d.tmp"  # another file's: not ours to remove
    other.write_text("x")
    atomic_write_text(target, "{}\n")
    assert target.read_text() == "{}\n"
    assert not left.exists() and other.exists()


def test_saving_over_a_read_only_project_is_refused_and_leaves_it_as_it_was(tmp_path):
    """A 0444 project was replaced without a word (a rename needs only the folder's permission)."""
    from app.core.document.atomic import atomic_write_text

    target = tmp_path / "p.graft"
    target.write_text("old")
    target.chmod(0o444)
    with pytest.raises(PermissionError, match="read-only"):
        atomic_write_text(target, "new")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["p.graft"]


def test_a_key_with_a_newline_is_named_on_one_line():
    """Keys holding a newline gave messages over several lines."""
    document = example_document("cascade")
    document["nodes"][0]["params"]["bad\nkey"] = 1
    with pytest.raises(ProjectError) as refused:
        from_dict(document)
    assert "\n" not in str(refused.value)
    assert 'nodes[0].params["bad\\nkey"]' in str(refused.value)


def model_file_problems(path: str, folder) -> list[str]:
    """The analysis of Input → ModelFile(path) → Output: the model node's problems."""
    from app.core.analysis.validate import analyze
    from app.core.editing.builder import GraphBuilder
    from app.core.nodes import Context

    b = GraphBuilder()
    b.add("x", "Input", shape=[8, 8, 1])
    b.add("model", "ModelFile", path=path)
    b.add("y", "Output")
    b.chain("x", "model", "y")
    analysis = analyze(b.graph, Context(folder))
    return [p.message for p in analysis.nodes[b.ids["model"]].problems]


@pytest.mark.parametrize(("path", "expected"), [
    ("/dev/zero", "is not a regular file"),  # hashing it never returned
    ("/", "is not a SavedModel (no saved_model.pb)"),  # a whole disk was read first
    ("/proc/self/mem", "Graft reads .keras, .h5, .hdf5 model files"),  # a traceback
    ("a\u0000b.keras", "model file a\\x00b.keras: its path holds a NUL character"),  # a traceback
    ("x" * 5000 + ".keras", "cannot be read"),  # a traceback (name too long)
])
def test_a_model_path_that_is_no_model_file_is_refused_before_it_is_read(tmp_path, path, expected):
    problems = model_file_problems(path, tmp_path)
    assert any(expected in message for message in problems), problems
    assert all(len(message) < 400 for message in problems)


def test_a_folder_without_a_savedmodel_is_refused_without_reading_its_files(tmp_path, monkeypatch):
    from app.core.cards import loading

    (tmp_path / "big").mkdir()
    (tmp_path / "big" / "data.bin").write_bytes(b"\0" * 1000)
    monkeypatch.setattr(loading, "_content_digest", lambda path: pytest.fail(f"{path} was read"))
    assert any("folder big is not a SavedModel" in m for m in model_file_problems("big", tmp_path))


NESTED = "nested-placeholder"


@pytest.mark.parametrize("where", ["description", "nodes[0].params.config", "cards[0].key.deep"])
@pytest.mark.parametrize("depth", [150, 500, 900, 940, 960, 980, 1000, 5000])
def test_a_value_nested_too_deeply_is_refused_with_its_place(where, depth):
    """Depths near Python's limit escaped the loader as RecursionError (988 in `description`,
    982–985 in a KerasLayer config); a card key ~980 deep opened, then every save failed."""
    from app.core.document.fileformat import loads

    document = example_document("cascade")
    if where == "description":
        document["description"] = NESTED
    elif where.startswith("nodes"):
        document["nodes"][0] = {"id": "k", "type": "KerasLayer", "name": "k",
                                "params": {"class_name": "Dense", "config": {"units": NESTED}}}
    else:
        document["cards"][0]["key"]["deep"] = NESTED
    text = json.dumps(document).replace(f'"{NESTED}"', "[" * depth + "]" * depth)

    with pytest.raises(ProjectError) as refused:  # never a RecursionError
        loads(text)
    message = str(refused.value)
    if "nested too deeply to be a project file" not in message:  # the parser's own limit, or…
        assert "nested deeper than 100 levels" in message  # …ours, with the place
        assert message.startswith(where.split(".")[0])


def test_a_huge_loss_weight_is_named_as_the_cause_of_a_nan_loss(tmp_path):
    """The message blamed the learning rate, which was an ordinary 0.001."""
    from app.core.document.fileformat import load, save
    from app.core.document.training_setup import Phase
    from app.core.editing.commands import CommandStack, edit_training
    from app.core.training import events
    from app.core.training.runner import train
    from tests.core.test_training import wine_regression

    project = wine_regression(tmp_path, optimizer="sgd")
    project = load(project.path)
    phases = [Phase("train", 1, losses={"alcohol": 1e6})]  # the most a loss may be weighed
    CommandStack(project).push(edit_training(project.training, "Weigh the loss", phases=phases))
    save(project, project.path)
    ended = train(project, epochs=1)
    assert ended.status == events.DIVERGED
    assert "Lower the loss weight of 'alcohol' (it is 1e+06)" in ended.message


def test_a_nan_in_a_csv_is_named_by_its_row_and_column(tmp_path):
    """The message named the file and "the 2 columns 'a', 'b'", but no row and no column."""
    from app.core.analysis.validate import analyze
    from app.core.editing.builder import GraphBuilder
    from app.core.nodes import Context
    from app.core.training.data import prepare
    from app.core.training.sources import DataError

    (tmp_path / "t.csv").write_text("a,b,y\n1,2,0.5\n3,nan,0.1\n5,6,0.2\n", encoding="utf-8")
    b = GraphBuilder()
    b.add("x", "Input", shape=[2])
    b.add("d", "Dense", units=1)
    b.add("y", "Output", loss="mean_squared_error")
    b.chain("x", "d", "y")
    data = {"source": "csv", "path": "t.csv", "mapping": {"x": ["a", "b"], "y": "y"},
            "validation_split": 0.0, "validation_path": None, "shuffle": False}
    with pytest.raises(DataError) as refused:
        prepare(data, b.graph, analyze(b.graph, Context(tmp_path)), tmp_path, batch_size=2, seed=0,
                losses={"y": "mean_squared_error"})
    assert "t.csv, row 3, column 'b' holds nan" in str(refused.value)


def test_a_killed_session_without_unsaved_changes_leaves_no_lock_file_behind(tmp_path):
    """Each window locks its recovery file at once, but writes it only once there are unsaved
    changes: a killed session without any left `*.recovery.json.lock` files for ever."""
    import subprocess
    import sys

    from PySide6.QtCore import QLockFile

    from app.gui.recovery import SUFFIX, orphans

    stale = tmp_path / f"dead{SUFFIX}.lock"
    killed = ("import os\nfrom PySide6.QtCore import QLockFile\n"
              f"lock = QLockFile({str(stale)!r})\nlock.tryLock(0)\nos._exit(0)")
    subprocess.run([sys.executable, "-c", killed], check=True, timeout=60)
    live = QLockFile(str(tmp_path / f"alive{SUFFIX}.lock"))
    assert stale.exists() and live.tryLock(0)
    assert orphans(tmp_path) == []
    assert not stale.exists()
    assert (tmp_path / f"alive{SUFFIX}.lock").exists()  # a running Graft's lock stays
    live.unlock()


def test_a_node_name_is_at_most_100_characters_and_a_copy_of_the_longest_stays_valid():
    """A 100,000-character name loaded, became a Keras layer name and filled every message."""
    from app.core.editing.builder import GraphBuilder

    with pytest.raises(GraphError, match="up to 100 letters"):
        check_name("a" * 101)
    b = GraphBuilder()
    b.add("x" * 100, "Input", 0, 0, shape=[4])
    copy = b.graph.unique_name("x" * 100)
    check_name(copy)
    assert copy != "x" * 100


def test_messages_quote_odd_ports_escaped_and_cut_and_list_few_of_many_choices():
    """An edge into a port of 3,000 characters gave a 6,000-character problem; a port holding a
    newline broke it over two lines; a wrong metric listed every metric (411 characters)."""
    from app.core.analysis.validate import analyze
    from app.core.document.fileformat import loads

    document = example_document()
    document["edges"][0]["to"]["port"] = "\n" + "x" * 3000
    project = loads(json.dumps(document))
    problems = [p.message for p in analyze(project.graph, project.context).errors]
    assert problems and all("\n" not in m and len(m) <= 300 for m in problems), problems
    document = example_document()
    document["nodes"][3]["params"]["metrics"] = ["8"]
    with pytest.raises(ProjectError) as caught:
        loads(json.dumps(document))
    assert len(str(caught.value)) <= 300 and "in all)" in str(caught.value)


def test_a_cycle_through_thousands_of_nodes_is_one_short_problem():
    """The problem named every node of the cycle: 99,929 of them in a fuzzed graph."""
    from app.core.analysis.validate import analyze
    from app.core.editing.builder import GraphBuilder

    b = GraphBuilder()
    names = [f"d{i}" for i in range(2000)]
    for name in names:
        b.add(name, "Dense", 0, 0, units=4)
    b.chain(*names, names[0])
    cycles = [p.message for p in analyze(b.graph).errors if p.code == "cycle"]
    assert len(cycles) == 1 and len(cycles[0]) <= 300 and "(2,000 nodes)" in cycles[0], cycles


def test_a_model_shared_with_a_name_of_hundreds_of_characters_is_one_short_problem():
    """share_weights_with held 500 combining accents, quoted whole in the problem."""
    from app.core.analysis.validate import analyze
    from app.core.document.fileformat import loads

    document = example_document("parallel")
    pretrained = next(n for n in document["nodes"] if "share_weights_with" in n["params"])
    pretrained["params"]["share_weights_with"] = "\u0301" * 500
    project = loads(json.dumps(document))
    problems = [p.message for p in analyze(project.graph, project.context).problems]
    assert any("no other node named" in m for m in problems)
    assert all(len(m) <= 300 for m in problems), problems
