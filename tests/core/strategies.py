"""Hypothesis strategies for Graft's core model, shared by the core tests.

- `param_values(param)`: a valid value for one `Param` (kind, range, choices, optional).
- `node_params(type_name)`: a valid parameter dict for a node type (type-level checks pass).
- `graphs()` / `projects()`: random graphs of file-free node types (no pretrained nodes,
  which need model files), with unique ids and names, random positions and edges from
  output port "out" to free input ports. Shapes need not fit: this is about the file format.
- `json_values()`: any JSON value Python's json module reads back.
- `mutated_documents(document)`: a valid project document with a few random mutations,
  for fuzzing the loader.

Nothing here imports TensorFlow or Keras."""

from __future__ import annotations

import copy
import math

from hypothesis import strategies as st

from app.core.document.project import Project
from app.core.editing import commands
from app.core.graph.graph import Edge, Graph, Node
from app.core.graph.params import (
    BOOL,
    CHOICE,
    FLOAT,
    INT,
    INTS,
    JSON,
    PATH,
    SHAPE,
    STR,
    STRS,
    Param,
    ParamError,
)
from app.core.nodes import REGISTRY, Context
from app.core.nodes.base import MAX_DIM, PRETRAINED
from app.core.nodes.keras_layer import REFUSED
from app.core.nodes.merges import Merge

# Node types that need no file on disk: everything but the pretrained models.
FILE_FREE_TYPES: tuple[str, ...] = tuple(sorted(
    name for name, kind in REGISTRY.items()
    if kind.category != PRETRAINED and not any(p.kind == PATH for p in kind.params)
))

# A few real keras.layers class names; the format only needs identifiers that are not refused.
LAYER_CLASS_NAMES = ("Dense", "Conv2D", "GRU", "LSTM", "MaxPooling2D", "Conv1D", "Bidirectional",
                     "UpSampling2D", "ZeroPadding2D", "SeparableConv2D")

_SMALL_INT = 10**6


# -- JSON values ------------------------------------------------------------------------
def json_scalars(allow_nonfinite: bool = False) -> st.SearchStrategy:
    return st.one_of(
        st.none(),
        st.booleans(),
        st.integers(min_value=-(2**63), max_value=2**63),
        st.floats(allow_nan=allow_nonfinite, allow_infinity=allow_nonfinite),
        st.text(max_size=20),
    )


def json_values(max_leaves: int = 12, allow_nonfinite: bool = False) -> st.SearchStrategy:
    """Any JSON value: scalars, lists and objects, nested."""
    return st.recursive(
        json_scalars(allow_nonfinite),
        lambda children: st.one_of(
            st.lists(children, max_size=4),
            st.dictionaries(st.text(max_size=10), children, max_size=4),
        ),
        max_leaves=max_leaves,
    )


def json_objects(max_leaves: int = 12) -> st.SearchStrategy:
    return st.dictionaries(st.text(max_size=10), json_values(max_leaves), max_size=4)


# -- parameters -------------------------------------------------------------------------
def _int_bounds(param: Param) -> tuple[int, int]:
    low = math.ceil(param.minimum) if param.minimum is not None else -_SMALL_INT
    high = math.floor(param.maximum) if param.maximum is not None else _SMALL_INT
    if param.exclusive_maximum and param.maximum is not None and high == param.maximum:
        high -= 1
    return low, high


def param_values(param: Param) -> st.SearchStrategy:
    """A value this parameter's schema accepts (not yet type-level checks)."""
    kind = param.kind
    if kind == INT:
        low, high = _int_bounds(param)
        base = st.integers(min_value=low, max_value=high)
    elif kind == FLOAT:
        base = st.floats(
            min_value=param.minimum if param.minimum is not None else -1e9,
            max_value=param.maximum if param.maximum is not None else 1e9,
            exclude_max=param.exclusive_maximum,
            allow_nan=False, allow_infinity=False,
        )
    elif kind == BOOL:
        base = st.booleans()
    elif kind in (STR, PATH):
        base = st.text(max_size=20)
    elif kind == CHOICE:
        base = st.sampled_from(param.choices)
    elif kind == SHAPE:
        base = st.lists(st.one_of(st.none(), st.integers(1, 4096)),
                        min_size=int(param.minimum or 0), max_size=6)
    elif kind == INTS:
        base = st.lists(st.integers(-64, 4096), min_size=int(param.minimum or 0), max_size=6)
    elif kind == STRS:
        item = st.sampled_from(param.choices) if param.choices else st.text(max_size=12)
        base = st.lists(item, max_size=5)
    elif kind == JSON:
        base = json_objects()
    else:  # pragma: no cover - a new kind needs a strategy here
        raise NotImplementedError(f"no strategy for parameter kind {kind!r}")
    return st.one_of(st.none(), base) if param.optional else base


@st.composite
def _reshape_target(draw) -> list[int]:
    dims = draw(st.lists(st.integers(1, 512), min_size=1, max_size=5))
    if draw(st.booleans()):
        dims[draw(st.integers(0, len(dims) - 1))] = -1
    return dims


def _sizes_a_layer_takes(config: dict) -> dict:
    """A Keras layer config whose integers are sizes KerasLayer accepts (at most MAX_DIM)."""
    return {key: _sizes_a_layer_takes(value) if isinstance(value, dict) else
            value % MAX_DIM if isinstance(value, int) and not isinstance(value, bool) else value
            for key, value in config.items()}


@st.composite
def _permutation(draw) -> list[int]:
    n = draw(st.integers(1, 5))
    return draw(st.permutations(list(range(1, n + 1))))


# Parameters whose node type checks more than the schema says.
OVERRIDES: dict[tuple[str, str], st.SearchStrategy] = {
    ("KerasLayer", "class_name"): st.one_of(
        st.sampled_from(LAYER_CLASS_NAMES),
        st.from_regex(r"\A[A-Za-z_][A-Za-z0-9_]{0,15}\Z").filter(lambda s: s not in REFUSED),
    ),
    ("Reshape", "target_shape"): _reshape_target(),
    ("KerasLayer", "config"): json_objects().map(_sizes_a_layer_takes),
    ("Permute", "dims"): _permutation(),
}


@st.composite
def node_params(draw, type_name: str) -> dict:
    """Checked parameters for a node type; some left out so their defaults apply."""
    kind = REGISTRY[type_name]
    values = {}
    for param in kind.params:
        if draw(st.integers(0, 4)) == 0:
            continue  # left to its default
        values[param.name] = draw(OVERRIDES.get((type_name, param.name), param_values(param)))
    try:
        return kind.check_params(values)
    except ParamError as error:  # the strategy must only make valid parameters
        raise AssertionError(f"strategy made invalid {type_name} params {values}: {error}") from None


# -- graphs -----------------------------------------------------------------------------
node_ids = st.one_of(
    st.from_regex(r"\An[1-9][0-9]{0,3}\Z"),
    st.text(min_size=1, max_size=12),
)
edge_ids = st.one_of(
    st.from_regex(r"\Ae[1-9][0-9]{0,3}\Z"),
    st.text(min_size=1, max_size=12),
)
node_names = st.from_regex(r"\A[A-Za-z_][A-Za-z0-9_]{0,20}\Z")
coordinates = st.floats(min_value=-1e7, max_value=1e7, allow_nan=False, allow_infinity=False)
positions = st.tuples(coordinates, coordinates)


def input_port_names(node: Node) -> list[str]:
    """Input ports an edge may end at (merges: a few numbered ports)."""
    kind = REGISTRY[node.type]
    if isinstance(kind, Merge) and node.type != "AttentionFusion":
        return [f"in{i}" for i in range(4)]
    return [port.name for port in kind.input_ports(node, set(), Context())]


@st.composite
def graphs(draw, min_nodes: int = 0, max_nodes: int = 12, max_edges: int = 20) -> Graph:
    count = draw(st.integers(min_nodes, max_nodes))
    ids = draw(st.lists(node_ids, min_size=count, max_size=count, unique=True))
    names = draw(st.lists(node_names, min_size=count, max_size=count, unique=True))
    graph = Graph()
    for node_id, name in zip(ids, names):
        type_name = draw(st.sampled_from(FILE_FREE_TYPES))
        params = draw(node_params(type_name))
        graph.add_node(Node(node_id, type_name, name, params, draw(positions)))

    sources = [n for n in graph.nodes if "out" in REGISTRY[n.type].output_ports(n, Context())]
    free = [(n.id, port) for n in graph.nodes for port in input_port_names(n)]
    if sources and free:
        wanted = draw(st.integers(0, min(max_edges, len(free))))
        targets = draw(st.lists(st.sampled_from(free), min_size=wanted, max_size=wanted,
                                unique=True))
        ids = draw(st.lists(edge_ids, min_size=wanted, max_size=wanted, unique=True))
        for edge_id, (target, port) in zip(ids, targets):
            candidates = [s for s in sources if s.id != target]
            if not candidates:
                continue
            source = draw(st.sampled_from(candidates))
            graph.add_edge(Edge(edge_id, source.id, "out", target, port))
    return graph


@st.composite
def projects(draw, **graph_options) -> Project:
    return Project(graph=draw(graphs(**graph_options)),
                   name=draw(st.text(max_size=30)),
                   description=draw(st.text(max_size=80)))


# -- fuzzing documents --------------------------------------------------------------------
def _paths(value, prefix=()) -> list[tuple]:
    """Every place inside a JSON value, as a key/index path (the root is ())."""
    found = [prefix]
    if isinstance(value, dict):
        for key, child in value.items():
            found += _paths(child, (*prefix, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            found += _paths(child, (*prefix, index))
    return found


def _get(document, path):
    for key in path:
        document = document[key]
    return document


@st.composite
def mutated_documents(draw, document: dict, max_mutations: int = 3):
    """`document` (not changed) with 1…max_mutations random edits: a value replaced by
    random JSON or by another part of the document, an entry removed, an unknown key added,
    or a list item duplicated."""
    result = copy.deepcopy(document)
    for _ in range(draw(st.integers(1, max_mutations))):
        paths = _paths(result)
        path = draw(st.sampled_from(paths))
        operation = draw(st.sampled_from(("replace", "transplant", "remove", "add_key", "duplicate")))
        if operation == "transplant":
            value = copy.deepcopy(_get(result, draw(st.sampled_from(paths))))
        else:
            value = draw(json_values(allow_nonfinite=True))
        if not path:
            if operation in ("replace", "transplant"):
                result = value
            continue
        parent, key = _get(result, path[:-1]), path[-1]
        target = parent[key]
        if operation in ("replace", "transplant"):
            parent[key] = value
        elif operation == "remove":
            del parent[key]
        elif operation == "add_key" and isinstance(target, dict):
            target[draw(st.text(max_size=10))] = value
        elif operation == "duplicate" and isinstance(target, list) and target:
            index = draw(st.integers(0, len(target) - 1))
            target.insert(index, copy.deepcopy(target[index]))
    return result


# -- edits, as the editor would issue them -------------------------------------------------
def small_graph():
    """x (Input) → d (Dense) → y (Output), built through the builder."""
    from app.core.editing.builder import GraphBuilder

    b = GraphBuilder()
    b.add("x", "Input", shape=[4])
    b.add("d", "Dense", units=3)
    b.add("y", "Output")
    b.chain("x", "d", "y")
    return b


def twin_cnn_graph(**second_params):
    """Two copies of the bundled digits CNN on one input, averaged into one Output."""
    from app.core.editing.builder import GraphBuilder

    b = GraphBuilder()
    b.add("x", "Input", shape=[8, 8, 1])
    b.add("first", "ModelFile", path="digits_cnn.keras")
    b.add("second", "ModelFile", path="digits_cnn.keras", **second_params)
    b.add("avg", "Average")
    b.add("y", "Output")
    b.wire("x", "first")
    b.wire("x", "second")
    b.wire("first", "avg", "in0")
    b.wire("second", "avg", "in1")
    b.wire("avg", "y")
    return b


@st.composite
def edit(draw, graph):
    """One random, valid edit for the current graph (or None when none applies)."""
    nodes = graph.nodes
    choice = draw(st.sampled_from(
        ["add", "remove", "connect", "disconnect", "params", "rename", "move"]))
    if choice == "add" or not nodes:
        kind = draw(st.sampled_from(["Input", "Dense", "Flatten", "Concatenate", "Output"]))
        return commands.AddNode(commands.new_node(graph, kind, position=(draw(st.integers(0, 500)), 0)))
    node = draw(st.sampled_from(nodes))
    if choice == "remove":
        return commands.RemoveNodes([node.id])
    if choice == "connect":
        target = draw(st.sampled_from(nodes))
        port = "in0" if target.type == "Concatenate" else "in"
        if target.type in ("Input",) or target.id == node.id or node.type == "Output":
            return None
        return commands.connect(graph, node.id, "out", target.id, port)
    if choice == "disconnect":
        edges = graph.edges
        return commands.Disconnect(draw(st.sampled_from(edges)).id) if edges else None
    if choice == "params" and node.type == "Dense":
        return commands.SetParams(node.id, {"units": draw(st.integers(1, 64))})
    if choice == "rename":
        return commands.Rename(node.id, f"renamed_{draw(st.integers(0, 10**6))}")
    return commands.MoveNodes({node.id: (draw(st.floats(-1e3, 1e3)), draw(st.floats(-1e3, 1e3)))})


# -- every core command, on whole projects -------------------------------------------------
@st.composite
def setups(draw, graph: Graph):
    """A training setup naming the graph's nodes: a data mapping, and phases whose freezing,
    losses and learning-rate multipliers name some of them (as a rename must update)."""
    from app.core.document.training_setup import config_from_dict

    names = [n.name for n in graph.nodes]
    named = st.sampled_from(names) if names else st.nothing()
    mapping = draw(st.dictionaries(named, st.sampled_from(["images", "labels", "x"]), max_size=3)) \
        if names else {}
    phases = []
    for i in range(draw(st.integers(0, 2))):
        pick = (lambda values: draw(st.dictionaries(named, values, max_size=2))) if names \
            else (lambda values: {})
        phases.append({"name": f"phase{i}", "epochs": draw(st.integers(1, 5)),
                       "trainable": pick(st.sampled_from(["frozen", "all", 2])),
                       "losses": pick(st.sampled_from([0.5, 1.0])) or None,
                       "lr_multipliers": pick(st.sampled_from([0.1, 2.0]))})
    return config_from_dict({"settings": {"batch_size": draw(st.integers(1, 64)),
                                          "learning_rate": draw(st.sampled_from([1e-3, 0.01]))},
                             "data": {"mapping": mapping}, "phases": phases})


@st.composite
def projects_with_setups(draw) -> Project:
    project = draw(projects(max_nodes=6, max_edges=6))
    project.training = draw(setups(project.graph))
    return project


EDITS = ("add", "remove", "connect", "disconnect", "params", "rename", "move", "training", "info",
         "fix", "paste", "duplicate", "layout", "macro")


@st.composite
def document_edit(draw, project: Project):
    """One random edit of any kind a user can make, as the core command the editor would push
    (None when the drawn kind does not apply to this project)."""
    from app.core.analysis.fixes import suggest
    from app.core.editing.clipboard import copy_text, duplicate_command, paste_command
    from app.core.editing.layout import layout_command
    from app.core.graph.specs import TensorSpec

    graph = project.graph
    nodes = graph.nodes
    choice = draw(st.sampled_from(EDITS))
    if choice == "training":
        setup = draw(setups(graph))
        return commands.SetTraining(setup, "Change training setup")
    if choice == "info":
        return commands.SetInfo(draw(st.text(max_size=20)), draw(st.text(max_size=40)))
    if choice == "layout":
        return layout_command(graph)
    if choice == "add" or not nodes:
        kind = draw(st.sampled_from(FILE_FREE_TYPES))
        return commands.AddNode(commands.new_node(graph, kind, draw(node_params(kind)),
                                                  position=(draw(st.integers(0, 500)), 0)))
    node = draw(st.sampled_from(nodes))
    if choice == "remove":
        return commands.RemoveNodes([node.id])
    if choice == "connect":
        target = draw(st.sampled_from(nodes))
        ports = input_port_names(target)
        feeds = "out" in REGISTRY[node.type].output_ports(node, Context())
        if not ports or target.id == node.id or not feeds:
            return None
        return commands.connect(graph, node.id, "out", target.id, draw(st.sampled_from(ports)))
    if choice in ("disconnect", "fix"):
        if not graph.edges:
            return None
        edge = draw(st.sampled_from(graph.edges))
        if choice == "disconnect":
            return commands.Disconnect(edge.id)
        fix = suggest(edge.id, TensorSpec((None, 8, 8, 1)), TensorSpec((None, 64)))
        return commands.apply_fix(graph, fix)
    if choice == "params":
        return commands.SetParams(node.id, draw(node_params(node.type)))
    if choice == "rename":
        return commands.Rename(node.id, f"renamed_{draw(st.integers(0, 10**6))}")
    if choice == "paste":
        chosen = draw(st.lists(st.sampled_from(nodes), min_size=1, max_size=3, unique_by=lambda n: n.id))
        return paste_command(graph, copy_text(graph, [n.id for n in chosen], project.folder),
                             base_dir=project.folder)
    if choice == "duplicate":
        return duplicate_command(graph, [node.id])
    if choice == "macro":
        return commands.Macro("Move and rename", [
            commands.MoveNodes({node.id: (draw(st.floats(-1e3, 1e3)), 0.0)}),
            commands.Rename(node.id, f"macro_{draw(st.integers(0, 10**6))}")])
    return commands.MoveNodes({node.id: (draw(st.floats(-1e3, 1e3)), draw(st.floats(-1e3, 1e3)))})
