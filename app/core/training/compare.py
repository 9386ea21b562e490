"""Two runs side by side: what changed between them in the graph, the freezing, the setup and the
data, and how their metrics compare. It reads two run records (`record.read_record`) and returns
plain data, sections of rows (what, left, right), which the Runs panel shows and a CLI could
print. A record from before records existed (`format_version` 0) has no project: what it lacks
is said to be unknown, and the rest is compared."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass

GRAPH, FREEZING, SETUP, DATA, ENVIRONMENT, METRICS = (
    "Graph", "Freezing", "Setup", "Data", "Environment", "Metrics")
NO_DIFFERENCE = "no difference"
ABSENT = "—"  # a value one side does not have (a node it lacks, a metric it did not log)
OWN_SETTING = "own setting"  # a node a phase does not name trains as its parameters say


@dataclass(frozen=True)
class Row:
    """One compared value; `difference` is right − left for numbers ("" otherwise)."""

    what: str
    left: str
    right: str
    changed: bool = True
    difference: str = ""


@dataclass(frozen=True)
class Section:
    """`rows` are the differences (Metrics: every value, side by side); `notes` say what is
    unknown and, with no row to show, that there is no difference."""

    title: str
    rows: tuple[Row, ...] = ()
    notes: tuple[str, ...] = ()

    @property
    def same(self) -> bool:
        return not any(row.changed for row in self.rows)


@dataclass(frozen=True)
class Comparison:
    left: str  # the runs' names
    right: str
    sections: tuple[Section, ...]

    def section(self, title: str) -> Section:
        return next(section for section in self.sections if section.title == title)


def compare_records(left: dict, right: dict) -> Comparison:
    """What differs between two run records, section by section (see the module's docstring)."""
    names = (left["name"], right["name"])
    sections = (
        _section(GRAPH, *_graph_rows(left, right, names)),
        _section(FREEZING, _freezing_rows(left["phases"], right["phases"]), ()),
        _section(SETUP, *_setup_rows(left, right, names)),
        _section(DATA, *_data_rows(left, right, names)),
        _section(ENVIRONMENT, _environment_rows(left, right),
                 tuple(f"the packages unknown: {name} does not record them" for name, record
                       in zip(names, (left, right)) if not record.get("packages"))),
        _metrics_section(left, right),
    )
    return Comparison(*names, sections)


def graph_differences(left: dict, right: dict) -> list[Row]:
    """What differs between two project documents' graphs: nodes added or removed (by name),
    renamed (same id), of another type, their parameters (`hidden.units`), and connections."""
    before, after = _nodes_by_name(left), _nodes_by_name(right)
    renamed = _renames(before, after)
    rows = [Row(f"node {name}", str(before[name].get("type")), ABSENT) for name in before
            if name not in after and name not in renamed]
    rows += [Row(f"node {name}", ABSENT, str(after[name].get("type"))) for name in after
             if name not in before and name not in renamed.values()]
    rows += [Row(f"node {old} renamed", old, new) for old, new in renamed.items()]
    for name, node in before.items():
        other = after.get(renamed.get(name, name))
        if other is None:
            continue
        if node.get("type") != other.get("type"):
            rows.append(Row(f"{name} type", str(node.get("type")), str(other.get("type"))))
            continue
        rows += _dict_rows(_dict(node.get("params")), _dict(other.get("params")), f"{name}.")
    links_before = _links(left)
    links_after = _links(right, {new: old for old, new in renamed.items()})  # a rename moves no link
    rows += [Row("connection", link, ABSENT) for link in links_before if link not in links_after]
    rows += [Row("connection", ABSENT, link) for link in links_after if link not in links_before]
    return rows


# -- sections ------------------------------------------------------------------------------------

def _section(title: str, rows: list[Row], notes: tuple[str, ...]) -> Section:
    if not rows:
        notes = (*notes, f"{NO_DIFFERENCE} in what both record" if notes else NO_DIFFERENCE)
    return Section(title, tuple(rows), tuple(notes))


def _document(record: dict) -> dict | None:
    project = record.get("project")
    document = project.get("document") if isinstance(project, dict) else None
    return document if isinstance(document, dict) else None


def _unknown(what: str, names: tuple[str, str], *records: dict) -> tuple[str, ...]:
    lacking = [name for name, record in zip(names, records) if _document(record) is None]
    if not lacking:
        return ()
    return (f"{what} unknown: {' and '.join(lacking)} {'does' if len(lacking) == 1 else 'do'} not "
            "record the project (a run from an older Graft)",)


def _graph_rows(left: dict, right: dict, names) -> tuple[list[Row], tuple[str, ...]]:
    unknown = _unknown("the graph", names, left, right)
    if unknown:
        return [], unknown
    return graph_differences(_document(left), _document(right)), ()


def _freezing_rows(left: list, right: list) -> list[Row]:
    """The phase list itself, then each node's freezing in the phases both runs have."""
    before, after = _phases(left), _phases(right)
    rows = []
    if list(before) != list(after):
        rows.append(Row("phases", ", ".join(before) or ABSENT, ", ".join(after) or ABSENT))
    for name in before:
        if name in after:
            rows += _dict_rows(_dict(before[name].get("trainable")), _dict(after[name].get("trainable")),
                               f"phase {name}: ", missing=OWN_SETTING)
    return rows


def _setup_rows(left: dict, right: dict, names) -> tuple[list[Row], tuple[str, ...]]:
    """The settings, each phase's epochs, learning rate, losses and multipliers, and the data
    mapping (which only the recorded project holds)."""
    rows = _dict_rows(_dict(left["settings"]), _dict(right["settings"]), "", labels=True)
    before, after = _phases(left["phases"]), _phases(right["phases"])
    for name in before:
        if name in after:
            for key in ("epochs", "learning_rate", "losses", "lr_multipliers"):
                rows += _dict_rows({key: before[name].get(key)}, {key: after[name].get(key)},
                                   f"phase {name}: ", labels=True)
    unknown = _unknown("the data mapping", names, left, right)
    if not unknown:
        rows += _dict_rows(_mapping(left), _mapping(right), "mapping ")
    return rows, unknown


def _data_rows(left: dict, right: dict, names) -> tuple[list[Row], tuple[str, ...]]:
    """Where the samples came from, each file's sha256, the bundled set, the counts and the split."""
    before, after = _dict(left.get("data")), _dict(right.get("data"))
    lacking = [name for name, data in zip(names, (before, after)) if not data]
    if lacking:
        return [], (f"the data unknown: {' and '.join(lacking)} records none",)

    def plain(data: dict) -> dict:
        bundled = _dict(data.get("bundled"))
        return {"source": data.get("source"), "path": data.get("path"),
                "validation_path": data.get("validation_path"),
                "bundled version": _short(bundled.get("version")) if bundled else None,
                "training samples": data.get("train_samples"),
                "validation samples": data.get("validation_samples")} | {
            key: value for key, value in _dict(data.get("split")).items()}

    rows = _dict_rows(plain(before), plain(after), "", labels=True)
    notes: tuple[str, ...] = ()
    if any(record["format_version"] < 1 for record in (left, right)):
        old = [name for name, record in zip(names, (left, right)) if record["format_version"] < 1]
        notes = (f"the data files' sha256 unknown: {' and '.join(old)} did not record them",)
    else:
        files_before, files_after = _files(before), _files(after)
        for key in dict.fromkeys([*files_before, *files_after]):
            was, now = files_before.get(key, ABSENT), files_after.get(key, ABSENT)
            if was != now:
                rows.append(Row(f"file {key}", was, now))
    return rows, notes


def _environment_rows(left: dict, right: dict) -> list[Row]:
    """The packages and how the run spread over the machine: a reason numbers may differ."""
    machine_keys = ("strategy", "replicas", "gpus")

    def plain(record: dict) -> dict:
        machine = _dict(record.get("machine"))
        return _dict(record.get("packages")) | {key: machine[key] for key in machine_keys if key in machine}

    return _dict_rows(plain(left), plain(right), "")


def _metrics_section(left: dict, right: dict) -> Section:
    """Side by side, each with right − left: status and duration, then per phase its best and
    final epoch's numbers (the monitored one first)."""
    rows = [_row("status", left.get("status"), right.get("status")),
            _row("duration (s)", left.get("duration_s"), right.get("duration_s"))]
    metrics_before, metrics_after = _dict(left.get("metrics")), _dict(right.get("metrics"))
    monitor = metrics_before.get("monitor") or metrics_after.get("monitor")
    rows.append(_row("monitored", metrics_before.get("monitor"), metrics_after.get("monitor")))
    before = {p.get("name"): p for p in _dicts(metrics_before.get("phases"))}
    after = {p.get("name"): p for p in _dicts(metrics_after.get("phases"))}
    for phase in dict.fromkeys([*before, *after]):
        for which in ("best", "final"):
            was = _dict(_dict(before.get(phase)).get(which))
            now = _dict(_dict(after.get(phase)).get(which))
            keys = sorted(dict.fromkeys([*was, *now]), key=lambda key: (key != monitor, key != "epoch", key))
            rows += [_row(f"{phase} {which} {key}", was.get(key), now.get(key)) for key in keys]
    return Section(METRICS, tuple(rows), () if any(row.changed for row in rows) else (NO_DIFFERENCE,))


# -- rows ----------------------------------------------------------------------------------------

def _row(what: str, left, right) -> Row:
    difference = ""
    if _number(left) and _number(right):
        delta = right - left
        difference = f"{delta:+.4g}" if delta else "0"
    shown = [ABSENT if value is None else _text(value) for value in (left, right)]
    return Row(what, *shown, left != right, difference)


def _dict_rows(before: dict, after: dict, prefix: str, *, labels: bool = False,
               missing: str = ABSENT) -> list[Row]:
    """A row for each key whose value differs (`missing` for a key one side lacks)."""
    rows = []
    for key in dict.fromkeys([*before, *after]):
        was = _text(before[key]) if key in before else missing
        now = _text(after[key]) if key in after else missing
        if was != now:
            label = str(key).replace("_", " ") if labels else str(key)
            rows.append(Row(f"{prefix}{label}", was, now))
    return rows


def _text(value) -> str:
    """A value as one line: numbers short (1e-3 → 0.001), lists comma-separated, None as none."""
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, str | int):
        return str(value)
    if isinstance(value, list) and all(isinstance(item, str | int | float) for item in value):
        return ", ".join(_text(item) for item in value) or "none"
    return json.dumps(value, sort_keys=True)


def _number(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _short(digest) -> str | None:
    return f"{digest[:12]}…" if isinstance(digest, str) and len(digest) > 12 else digest


# -- reading records -----------------------------------------------------------------------------

def _dict(value) -> dict:
    return value if isinstance(value, dict) else {}


def _dicts(value) -> list[dict]:
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def _phases(phases) -> dict[str, dict]:
    return {str(phase.get("name")): phase for phase in _dicts(phases)}


def _mapping(record: dict) -> dict:
    return _dict(_dict(_dict(_document(record)).get("training")).get("data")).get("mapping") or {}


def _files(data: dict) -> dict[str, str]:
    """Each data file (`tiny.npz`, `validation: held.npz`) → `sha256 1a2b3c4d5e6f…`."""
    found = {}
    for file in _dicts(data.get("files")):
        role = "" if file.get("role") == "path" else "validation: "
        found[f"{role}{file.get('path')}"] = f"sha256 {_short(file.get('sha256'))}"
    return found


def _nodes_by_name(document: dict) -> dict[str, dict]:
    return {str(node.get("name")): node for node in _dicts(document.get("nodes"))}


def _renames(before: dict[str, dict], after: dict[str, dict]) -> dict[str, str]:
    """Old name → new name, for a node only one side has by name but both have by id."""
    ids_after = {node.get("id"): name for name, node in after.items() if name not in before}
    return {name: ids_after[node.get("id")] for name, node in before.items()
            if name not in after and node.get("id") in ids_after}


def _links(document: dict, aliases: dict[str, str] | None = None) -> list[str]:
    """Each connection as `hidden → head`, by node names (ports named where not the usual), a
    node called by its alias where it has one."""
    names = {node.get("id"): str(node.get("name")) for node in _dicts(document.get("nodes"))}
    names = {key: (aliases or {}).get(name, name) for key, name in names.items()}

    def end(place: dict, usual: str) -> str:
        name = names.get(place.get("node"), str(place.get("node")))
        port = place.get("port")
        return name if port in (usual, None) else f"{name}:{port}"

    return [f"{end(_dict(edge.get('from')), 'out')} → {end(_dict(edge.get('to')), 'in')}"
            for edge in _dicts(document.get("edges"))]
