"""Reliability experiment 1 (issue 16): fuzzed projects.

Why this exists: a project file comes from anywhere (mail, a repository, another tool, a disk
that died mid-write). Opening one must either work (load, validate, save again) or refuse it
with one clear line (a `ProjectError` of at most 300 characters) — never another exception,
never a hang. This script makes seeded mutants of every bundled example, each of one kind
(byte flips, truncation, deleted and duplicated keys, wrong types, huge and deep values,
unicode oddities, swapped ids, cycles, duplicate edges, missing nodes, absurd shapes, node
types swapped, several at once, and graphs of 10^4–10^5 nodes), and opens each in this
process the way Graft does, timing each one.

Run from the repository root:

    .venv/bin/python benchmarks/reliability_fuzz.py          # 3,000 mutants of each example
    .venv/bin/python benchmarks/reliability_fuzz.py --quick  # 60 of each, one 10^4-node graph

tests/reliability/test_fuzz.py runs the quick part and asserts that nothing failed."""

from __future__ import annotations

import copy
import gc
import json
import os
import random
import signal
import sys
import tempfile
import threading
import time
import traceback
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from app.core.analysis.validate import analyze  # noqa: E402
from app.core.document.fileformat import ProjectError, dumps, load, loads  # noqa: E402
from app.core.document.project import changed_models  # noqa: E402
from app.core.nodes import REGISTRY  # noqa: E402
from benchmarks.reliability import run_alone  # noqa: E402

EXAMPLES = ROOT / "resources" / "examples"
MODELS = ROOT / "resources" / "models"
LIMIT_S = 10.0  # a mutant slower than this is a failure (a hang, to the user)
ALARM_S = 12 * LIMIT_S  # wall time (the CPUs are shared) after which a mutant is stopped: one hang
# must not stop the run
MESSAGE_LIMIT = 300
PER_EXAMPLE, QUICK_PER_EXAMPLE = 3000, 60
BIG_SIZES, QUICK_BIG_SIZES = (10_000, 30_000, 100_000), (10_000,)
BIG_BYTES = 1_000_000  # a mutant this large leaves a project of thousands of nodes as garbage

LOADED, REFUSED, BAD_MESSAGE, EXCEPTION, SLOW = (
    "loaded", "refused", "bad message", "exception", "slow")
FAILED = (BAD_MESSAGE, EXCEPTION, SLOW)


# -- JSON text the json module would not write ------------------------------------------------
class Raw(str):
    """JSON text written as it is: tokens json.dumps refuses or normalises (NaN, 1e400, an
    integer of 5,000 digits, a lone surrogate escape, nesting deeper than any encoder goes)."""


class Pairs(list):
    """An object written as these (key, value) pairs in order, duplicated keys included."""


def encode(value, ascii_only: bool = True) -> str:
    """`value` as JSON text, with Raw and Pairs written as they are."""
    if isinstance(value, Raw):
        return str(value)
    if isinstance(value, Pairs):
        return "{" + ", ".join(f"{encode(k, ascii_only)}: {encode(v, ascii_only)}" for k, v in value) + "}"
    if isinstance(value, dict):
        return encode(Pairs(value.items()), ascii_only)
    if isinstance(value, list):
        return "[" + ", ".join(encode(v, ascii_only) for v in value) + "]"
    return json.dumps(value, ensure_ascii=ascii_only)


def to_bytes(text: str) -> bytes:
    """UTF-8, lone surrogates kept as their (invalid) three bytes: what a broken writer leaves."""
    return text.encode("utf-8", "surrogatepass")


# -- where to mutate ---------------------------------------------------------------------------
def slots(document) -> list[tuple[object, object]]:
    """Every (container, key) of the document: each place a value can be replaced."""
    found, stack = [], [document]
    while stack:
        container = stack.pop()
        items = container.items() if isinstance(container, dict) else enumerate(container)
        for key, value in items:
            found.append((container, key))
            if isinstance(value, (dict, list)) and not isinstance(value, Raw):
                stack.append(value)
    return found


def containers(document, kind: type) -> list:
    return [document] * isinstance(document, kind) + [
        c[k] for c, k in slots(document) if type(c[k]) is kind]


def pick_slot(rng: random.Random, document) -> tuple[object, object]:
    return rng.choice(slots(document))


def entries(document, key: str) -> list[dict]:
    """The objects in the document's list `key` (an earlier mutation may have broken it)."""
    found = document.get(key) if isinstance(document, dict) else None
    return [item for item in found if isinstance(item, dict)] if isinstance(found, list) else []


def node_list(document) -> list[dict]:
    return entries(document, "nodes")


def edge_list(document) -> list[dict]:
    return entries(document, "edges")


# -- values ------------------------------------------------------------------------------------
ODD_VALUES = [None, True, False, 0, -1, 1, 2**31, -2**63, 2**64, 0.5, -0.0, 1e308, -1e-308, "",
              " ", "0", "null", "true", "[]", "x", [], [None], [[]], {}, {"": None}, [1, "a"],
              {"id": "n1"}]
HUGE_VALUES = [
    lambda: "x" * 1_000_000,
    lambda: list(range(100_000)),
    lambda: {f"k{i}": i for i in range(50_000)},
    lambda: Raw("9" * 5000),  # more digits than Python turns into an int by default
    lambda: Raw("1e400"), lambda: Raw("-1e400"), lambda: Raw("NaN"), lambda: Raw("Infinity"),
    lambda: Raw("-Infinity"), lambda: Raw("1" + "0" * 400 + ".5"),
    lambda: 2**200, lambda: -(2**200), lambda: 1.7976931348623157e308,
    lambda: [[0] * 1000] * 1000,
]
ODD_CHARACTERS = ["\ud800", "\udfff", "\ud83d", "\u202e", "\u200f", "\u0000", "\u0301" * 500,
                  "\u200d", "\ufeff", "\u2028", "\u2029", "\u0085", "\x0b", "\x0c", "\x1c", "\r",
                  "\n", "\t", "\uffff", "\U0010ffff", "\U0001f600", "e\u0301", "\u0130", "\ufb01",
                  "../", "\\", "\"", "%s", "{0}", "$(x)", "k" * 3000]
DEPTHS = [50, 98, 99, 100, 101, 150, 500, 990, 1000, 5000, 100_000]
ABSURD_SHAPES = [[], [0], [-1], [None], [None] * 40, [10**9] * 3, [2**31], [2**63], [1] * 1000,
                 [10**6, 10**6], [1.5], ["8"], [True], [10**30], [8, 8, 10**12], [None, None, None, 3],
                 [1] * 64, [2**62, 2**62]]
ABSURD_NUMBERS = [0, -1, 10**9, 2**31, 2**63, 10**30, -(10**30), 1e308, 2**1023, 1e-300]


def odd_string(rng: random.Random, base: str) -> str:
    odd = "".join(rng.choice(ODD_CHARACTERS) for _ in range(rng.randint(1, 3)))
    at = rng.randint(0, len(base))
    return base[:at] + odd + base[at:]


def deep_value(depth: int, rng: random.Random) -> Raw:
    opening, closing = ("[", "]") if rng.random() < 0.5 else ('{"a": ', "}")
    return Raw(opening * depth + "1" + closing * depth)


# -- the mutations: each takes (rng, document, text) and returns the mutant's bytes -------------
def byte_flip(rng, document, text):
    data = bytearray(to_bytes(text))
    for _ in range(rng.randint(1, 8)):
        data[rng.randrange(len(data))] = rng.choice(
            [rng.randrange(256), 0, 0xFF, 0xC0, 0x80, ord('"'), ord("{"), ord("]"), ord(","),
             ord("\\"), ord("0")])
    return bytes(data)


def truncate(rng, document, text):
    data = to_bytes(text)
    return data[:rng.randrange(len(data))]


def delete_key(rng, document, text):
    target = rng.choice(containers(document, dict))
    if target:
        del target[rng.choice(list(target))]
    return to_bytes(encode(document))


def duplicate_key(rng, document, text):
    """The same key twice in one object (JSON allows it; the second would silently win)."""
    target = rng.choice([c for c in containers(document, dict) if c])
    pairs = Pairs(target.items())
    key, value = rng.choice(pairs)
    pairs.insert(rng.randint(0, len(pairs)), (key, value if rng.random() < 0.5 else rng.choice(ODD_VALUES)))
    return to_bytes(encode(_replace(document, target, pairs)))


def wrong_type(rng, document, text):
    container, key = pick_slot(rng, document)
    old = container[key]
    choices = [v for v in ODD_VALUES if type(v) is not type(old)]
    container[key] = copy.deepcopy(rng.choice(choices))
    return to_bytes(encode(document))


def huge_value(rng, document, text):
    container, key = pick_slot(rng, document)
    value = rng.choice(HUGE_VALUES)()
    container[key] = value if isinstance(value, Raw) else Raw(json.dumps(value))  # encoded once, fast
    return to_bytes(encode(document))


def deep(rng, document, text):
    container, key = pick_slot(rng, document)
    container[key] = deep_value(rng.choice(DEPTHS), rng)
    return to_bytes(encode(document))


def unicode_oddity(rng, document, text):
    """Odd characters in a string value or a key; half the time written raw (lone surrogates
    then become invalid UTF-8), half the time as JSON escapes."""
    strings = [(c, k) for c, k in slots(document) if isinstance(c[k], str)]
    keyed = [c for c in containers(document, dict) if c]
    if rng.random() < 0.7 and strings:
        container, key = rng.choice(strings)
        container[key] = odd_string(rng, container[key])
    else:
        target = rng.choice(keyed)
        old = rng.choice(list(target))
        document = _replace(document, target, Pairs((odd_string(rng, k) if k == old else k, v)
                                                    for k, v in target.items()))
    return to_bytes(encode(document, ascii_only=rng.random() < 0.5))


def swap_ids(rng, document, text):
    """Two nodes trade ids, names or types, or an edge's ends trade places or point elsewhere."""
    nodes, edges = node_list(document), edge_list(document)
    choice = rng.randrange(5)
    if choice < 3 and len(nodes) >= 2:
        a, b = rng.sample(nodes, 2)
        field = ("id", "name", "type")[choice]
        a[field], b[field] = b.get(field), a.get(field)
    elif edges:
        edge = rng.choice(edges)
        if choice == 3:
            edge["from"], edge["to"] = edge.get("to"), edge.get("from")
        elif nodes and isinstance(edge.get("from"), dict) and isinstance(edge.get("to"), dict):
            end = edge[rng.choice(("from", "to"))]
            end["node"] = rng.choice(nodes).get("id")
    return to_bytes(encode(document))


def cycle(rng, document, text):
    """An edge from a node back into one upstream of it (or into itself), in place of the edge
    that fed that port: the file loads, and validation must name the cycle."""
    edges = [e for e in edge_list(document)
             if isinstance(e.get("from"), dict) and isinstance(e.get("to"), dict)]
    if not edges:
        return to_bytes(encode(document))
    fed = rng.choice(edges)
    downstream = {fed["to"].get("node")}
    grew = True
    while grew:
        more = {e["to"].get("node") for e in edges if e["from"].get("node") in downstream}
        grew = not more <= downstream
        downstream |= more
    sources = [e["from"] for e in edges if e["from"].get("node") in downstream] or [
        {"node": fed["to"].get("node"), "port": "out"}]
    fed["from"] = dict(rng.choice(sources))
    return to_bytes(encode(document))


def duplicate_edge(rng, document, text):
    """A second edge into a port that already has one (new id, or the same id)."""
    edges = edge_list(document)
    if edges:
        copied = copy.deepcopy(rng.choice(edges))
        if rng.random() < 0.7:
            copied["id"] = f"dup{rng.randrange(1000)}"
        if rng.random() < 0.5 and isinstance(copied.get("from"), dict) and node_list(document):
            copied["from"]["node"] = rng.choice(node_list(document)).get("id")
        edges = document["edges"]
        edges.insert(rng.randint(0, len(edges)), copied)
    return to_bytes(encode(document))


def missing_node(rng, document, text):
    """A node deleted with its edges and card entries left behind, or an edge or a card naming a
    node that never was."""
    nodes = document.get("nodes")
    choice = rng.randrange(3)
    if choice == 0 and isinstance(nodes, list) and nodes:
        del nodes[rng.randrange(len(nodes))]
    elif choice == 1 and edge_list(document):
        edge = rng.choice(edge_list(document))
        end = edge.get(rng.choice(("from", "to")))
        if isinstance(end, dict):
            end["node"] = rng.choice(["ghost", "", "N1", " n1", "n1 ", "n01"])
    elif isinstance(document.get("cards"), list) and document["cards"]:
        card = rng.choice(document["cards"])
        if isinstance(card, dict) and isinstance(card.get("nodes"), list):
            card["nodes"].append(rng.choice(["ghost", "e1", ""]))
    return to_bytes(encode(document))


def absurd_shape(rng, document, text):
    """An Input shape, another list parameter or a count out of all proportion."""
    nodes = [n for n in node_list(document) if isinstance(n.get("params"), dict)]
    if nodes:
        node = rng.choice(nodes)
        params = node["params"]
        lists = [k for k, v in params.items() if isinstance(v, list)]
        numbers = [k for k, v in params.items() if isinstance(v, (int, float)) and not isinstance(v, bool)]
        if lists and (rng.random() < 0.6 or not numbers):
            params[rng.choice(lists)] = copy.deepcopy(rng.choice(ABSURD_SHAPES))
        elif numbers:
            params[rng.choice(numbers)] = rng.choice(ABSURD_NUMBERS)
        else:
            params["shape"] = copy.deepcopy(rng.choice(ABSURD_SHAPES))
    return to_bytes(encode(document))


def retype(rng, document, text):
    """A node becomes another node type, keeping its parameters or dropping them."""
    nodes = node_list(document)
    if nodes:
        node = rng.choice(nodes)
        node["type"] = rng.choice(sorted(REGISTRY))
        if rng.random() < 0.5:
            node["params"] = {}
    return to_bytes(encode(document))


def top_level(rng, document, text):
    """The file as a whole is something else: another JSON value, another format or version."""
    choice = rng.randrange(6)
    if choice == 0:
        return to_bytes(encode(rng.choice(ODD_VALUES + [[document]])))
    if choice == 1:
        document["format_version"] = rng.choice([0, 1, 2, 4, 99, -1, 2**63, 3.0, 2.5, "3", None])
    elif choice == 2:
        document["format"] = rng.choice(["graft", "Graft-Project", "", None, 3])
    elif choice == 3:
        document[odd_string(rng, "extra")] = 1
    elif choice == 4:
        return rng.choice([b"", b"\xef\xbb\xbf", b"\xef\xbb\xbf\xef\xbb\xbf" + to_bytes(text),
                           b"\xff\xfe" + text.encode("utf-16-le"), b"\0" * 100, b"{" * 3,
                           to_bytes(text) + b"\n{}", to_bytes(text) + b"\0"])
    else:
        return to_bytes(text).replace(b"\n", b"\r\n") if rng.random() < 0.5 else to_bytes(
            json.dumps(document, indent=None, separators=(",", ":")))
    return to_bytes(encode(document))


SINGLE: dict[str, Callable] = {
    "byte flip": byte_flip, "truncation": truncate, "deleted key": delete_key,
    "duplicated key": duplicate_key, "wrong type": wrong_type, "huge value": huge_value,
    "deep value": deep, "unicode oddity": unicode_oddity, "swapped ids": swap_ids, "cycle": cycle,
    "duplicate edge": duplicate_edge, "missing node": missing_node, "absurd shape": absurd_shape,
    "node type swapped": retype, "top level": top_level,
}
STRUCTURED = ("deleted key", "wrong type", "swapped ids", "cycle", "duplicate edge", "missing node",
              "absurd shape", "node type swapped", "unicode oddity")


def several(rng, document, text):
    """Two to four structured mutations at once."""
    data = b""
    for _ in range(rng.randint(2, 4)):
        data = SINGLE[rng.choice(STRUCTURED)](rng, document, text)
        document = json.loads(data.decode("utf-8", "surrogatepass"))  # the next one builds on it
    return data


KINDS: dict[str, Callable] = {**SINGLE, "several at once": several}


def _replace(document, old, new):
    """The document with `new` where the container `old` was (`new` itself for the top level)."""
    if old is document:
        return new
    for container, key in slots(document):
        if container[key] is old:
            container[key] = new
            break
    return document


def big_graph(rng: random.Random, document: dict, size: int) -> bytes:
    """The example with `size` more nodes: a long chain, a wide fan-out into one merge, or a
    random graph with merges (one time in four with an edge back to its start: a second edge
    into a port, or an edge into a port that does not exist)."""
    document = copy.deepcopy(document)
    nodes, edges = document["nodes"], document["edges"]
    width = rng.choice([4, 8])
    nodes.append({"id": "b_in", "type": "Input", "name": "big_in", "params": {"shape": [width]}})
    layout = rng.choice(("chain", "fan", "random"))
    ids = ["b_in"]

    def add(type_name: str, params: dict, feeds: list[tuple[str, str]]) -> str:
        node_id = f"b{len(ids)}"
        nodes.append({"id": node_id, "type": type_name, "name": f"big_{node_id}",
                      "position": [float(len(ids) % 300) * 10, float(len(ids) // 300) * 10],
                      "params": params})
        for port, from_id in feeds:
            edges.append({"id": f"be{len(edges)}", "from": {"node": from_id, "port": "out"},
                          "to": {"node": node_id, "port": port}})
        ids.append(node_id)
        return node_id

    if layout == "chain":
        last = "b_in"
        for i in range(size - 2):
            last = add("Dense", {"units": width, "activation": "relu"}, [("in", last)]) if i % 2 else add(
                "Dropout", {"rate": 0.1}, [("in", last)])
    elif layout == "fan":
        branches = [add("Dense", {"units": width}, [("in", "b_in")]) for _ in range(size - 3)]
        last = add("Concatenate", {}, [(f"in{i}", b) for i, b in enumerate(branches)])
    else:
        for _ in range(size - 3):
            if len(ids) > 2 and rng.random() < 0.3:
                a, b = rng.sample(ids, 2)
                add("Add", {}, [("in0", a), ("in1", b)])
            else:
                add("Dense", {"units": width}, [("in", rng.choice(ids))])
        last = ids[-1]
        if rng.random() < 0.25:
            edges.append({"id": "be_back", "from": {"node": last, "port": "out"},
                          "to": {"node": ids[1], "port": rng.choice(["in", "in0"])}})
    add("Output", {"loss": "mean_squared_error"}, [("in", last)])
    return to_bytes(json.dumps(document, indent=1))


# -- the mutants -------------------------------------------------------------------------------
@dataclass(frozen=True)
class Mutant:
    example: str
    kind: str
    index: int
    data: bytes

    @property
    def label(self) -> str:
        return f"{self.example}/{self.kind}/{self.index}"


def examples() -> dict[str, str]:
    return {p.stem: p.read_text(encoding="utf-8") for p in sorted(EXAMPLES.glob("*.graft"))}


def make(example: str, text: str, kind: str, index: int) -> Mutant:
    """One mutant, the same on every run: its random stream is seeded by its name."""
    rng = random.Random(f"{example}/{kind}/{index}")
    return Mutant(example, kind, index, KINDS[kind](rng, json.loads(text), text))


def mutants(per_example: int, big_sizes=BIG_SIZES, big_examples: int | None = None) -> Iterator[Mutant]:
    """`per_example` mutants of every example, the kinds taken in turn, then graphs of each of
    `big_sizes` nodes grown from the first `big_examples` examples (all when None)."""
    kinds, texts = list(KINDS), examples()
    for example, text in texts.items():
        for index in range(per_example):
            yield make(example, text, kinds[index % len(kinds)], index)
    for index, size in enumerate(big_sizes):
        for example, text in list(texts.items())[:big_examples]:
            rng = random.Random(f"{example}/big/{size}")
            yield Mutant(example, f"{size:,}-node graph", index, big_graph(rng, json.loads(text), size))


# -- opening one --------------------------------------------------------------------------------
class Hang(BaseException):
    """Raised by the alarm in a mutant that runs past ALARM_S (BaseException: code under test
    that catches Exception must not swallow it)."""


@dataclass
class Outcome:
    status: str
    seconds: float  # to load and validate, in CPU time of this process (the CPUs are shared)
    wall: float
    detail: str = ""
    bad_problems: tuple[str, ...] = ()  # validation messages over the limit or over several lines
    resave: float = 0.0  # CPU time to save it and load it again, when it loaded


def one_line(message: str) -> bool:
    return len(message) <= MESSAGE_LIMIT and len(message.splitlines()) == 1


def open_mutant(data: bytes, folder: Path) -> Outcome:
    """Load the mutant as a file in `folder`; when it loads, validate it and save it again (a
    file that opens but cannot be saved, or saves as another project, is a failure too)."""
    path = folder / "mutant.graft"
    path.write_bytes(data)
    alarm = threading.current_thread() is threading.main_thread()
    if alarm:
        previous = signal.signal(signal.SIGALRM, _hang)
        signal.setitimer(signal.ITIMER_REAL, ALARM_S)
    wall, cpu = time.perf_counter(), time.process_time()

    def outcome(status: str, detail: str = "", bad: tuple[str, ...] = ()) -> Outcome:
        return Outcome(status, time.process_time() - cpu, time.perf_counter() - wall, detail, bad)

    try:
        try:
            project = load(path)
        except ProjectError as error:
            message = str(ProjectError(error.where, error.message))  # the file's own path aside
            return outcome(REFUSED if one_line(message) else BAD_MESSAGE, message)
        analysis = analyze(project.graph, project.context)
        said = [p.message for p in analysis.problems] + changed_models(project)  # what opening it says
        result = outcome(LOADED, bad=tuple(message for message in said if not one_line(message)))
        resave = time.process_time()
        if loads(dumps(project)).to_dict() != project.to_dict():
            return outcome(EXCEPTION, "saved and loaded again, it is another project")
        result.resave = time.process_time() - resave
        return result
    except Hang:
        return outcome(SLOW, f"stopped after {ALARM_S:.0f} s")
    except Exception as error:  # anything but a ProjectError is what this experiment looks for
        where = traceback.extract_tb(error.__traceback__)[-1]
        return outcome(EXCEPTION, f"{type(error).__name__}: {str(error)[:200]} "
                       f"(at {Path(where.filename).name}:{where.lineno})")
    finally:
        if alarm:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)


def _hang(signum, frame):
    raise Hang


def checked(outcome: Outcome) -> Outcome:
    if outcome.status in (LOADED, REFUSED) and outcome.seconds > LIMIT_S:
        outcome.status, outcome.detail = SLOW, f"took {outcome.seconds:.1f} s of CPU time"
    return outcome


@dataclass
class Results:
    outcomes: list[tuple[Mutant, Outcome]]

    def count(self, *statuses: str) -> int:
        return sum(o.status in statuses for _, o in self.outcomes)

    @property
    def failures(self) -> list[tuple[Mutant, Outcome]]:
        return [(m, o) for m, o in self.outcomes if o.status in FAILED]


def run(mutant_stream, progress: Callable[[str], None] | None = None) -> Results:
    """Open every mutant in a scratch folder beside a link to the bundled models (the
    examples' model paths are `../models/…`), so their cards and files are found as at home."""
    warm_up()
    outcomes = []
    with tempfile.TemporaryDirectory(prefix="graft-fuzz-") as scratch:
        folder = Path(scratch) / "examples"
        folder.mkdir()
        (Path(scratch) / "models").symlink_to(MODELS, target_is_directory=True)
        for mutant in mutant_stream:
            outcome = checked(open_mutant(mutant.data, folder))
            outcomes.append((mutant, outcome))
            if len(mutant.data) > BIG_BYTES:  # its garbage collected here, not on the next one's clock
                gc.collect()
            if progress and outcome.status in FAILED:
                progress(f"{outcome.status}: {mutant.label}: {outcome.detail}")
    return Results(outcomes)


def warm_up() -> None:
    """Import Keras now: the first mutant that needs a model file should not pay for it."""
    import keras  # noqa: F401


def rows(results: Results) -> list[tuple[str, str]]:
    outcomes = results.outcomes
    slowest_mutant, slowest = max(outcomes, key=lambda mo: mo[1].seconds)
    big = [(m, o) for m, o in outcomes if m.kind.endswith("-node graph")]
    kinds = Counter(m.kind for m, _ in outcomes)
    loaded_by_kind = Counter(m.kind for m, o in outcomes if o.status == LOADED)
    table = [
        ("mutants tried", f"{len(outcomes):,} (of {len({m.example for m, _ in outcomes})} examples)"),
        ("loaded, validated and saved again", f"{results.count(LOADED):,}"),
        ("refused cleanly (one line, <= 300 characters)", f"{results.count(REFUSED):,}"),
        ("refused with a message over 300 characters or lines", f"{results.count(BAD_MESSAGE):,}"),
        ("other exceptions", f"{results.count(EXCEPTION):,}"),
        (f"over {LIMIT_S:.0f} s", f"{results.count(SLOW):,}"),
        ("slowest (CPU time)",
         f"{slowest.seconds:,.2f} s, {slowest.wall:,.2f} s wall ({slowest_mutant.label})"),
        ("median (CPU time)", f"{sorted(o.seconds for _, o in outcomes)[len(outcomes) // 2] * 1000:.1f} ms"),
        ("validation messages over 300 characters or lines",
         f"{sum(len(o.bad_problems) for _, o in outcomes):,} "
         f"(in {sum(bool(o.bad_problems) for _, o in outcomes):,} mutants)"),
    ]
    for mutant, outcome in big:
        table.append((f"{mutant.kind} ({mutant.example})",
                      f"{outcome.status} in {outcome.seconds:.2f} s ({outcome.wall:.2f} s wall); saved and "
                      f"loaded again in {outcome.resave:.2f} s"))
    for kind in KINDS:
        if kinds[kind]:
            table.append((f"kind: {kind}", f"{kinds[kind]:,} tried, {loaded_by_kind[kind]:,} loaded"))
    return table


def experiment(quick: bool = False) -> dict:
    """The full run, or (quick) the fast part: 60 mutants of each example and one 10^4-node
    graph."""
    stream = mutants(QUICK_PER_EXAMPLE, QUICK_BIG_SIZES, 1) if quick else mutants(PER_EXAMPLE)
    results = run(stream, progress=lambda line: print(line, file=sys.stderr))
    return {"title": "Fuzzed projects", "rows": rows(results), "failures": len(results.failures),
            "failed": [(m.label, o.status, o.detail) for m, o in results.failures],
            "long_problems": sorted({p[:300] for _, o in results.outcomes for p in o.bad_problems})}


def _failures(result: dict) -> None:
    for label, status, detail in result["failed"]:
        print(f"  FAILED {status}: {label}: {detail}")
    for message in result["long_problems"][:20]:
        print(f"  long validation message: {message!r}")


if __name__ == "__main__":
    sys.exit(run_alone(experiment, "the fast part the tests run", _failures))
