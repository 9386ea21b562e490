"""Regenerate the "Node reference" section of docs/project-format.md from the node registry.

Only the text between the two marker comments is rewritten; everything else in the
document is written by hand. Run it after adding or changing a node type or a parameter:

    .venv/bin/python docs/gen_node_reference.py          # rewrite the section
    .venv/bin/python docs/gen_node_reference.py --check  # exit 1 if it is out of date

tests/core/test_docs.py fails while the committed section differs from `render()`.
Importing the node catalog is Keras-free, so this runs in well under a second."""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from app.core.cards.applications import APPLICATIONS  # noqa: E402
from app.core.graph.graph import Node  # noqa: E402
from app.core.graph.params import KINDS, Param, describe  # noqa: E402
from app.core.nodes import REGISTRY, Context, NodeType, by_category  # noqa: E402
from app.core.nodes.keras_layer import REFUSED  # noqa: E402
from app.core.nodes.pretrained import TAP_PREFIX, Pretrained  # noqa: E402

DOC = ROOT / "docs" / "project-format.md"
START = "<!-- node-reference:start -->"
END = "<!-- node-reference:end -->"

CATEGORY_TITLES = {
    "input": "Inputs",
    "pretrained": "Pretrained models",
    "adapter": "Adapters",
    "merge": "Merges",
    "layer": "Keras layers",
    "output": "Outputs",
}

# How each parameter kind is written in JSON. A new kind must be described here.
KIND_TEXT = {
    "int": "A JSON integer. A float with no fractional part (`2.0`) is accepted and saved as `2`; "
           "`true`/`false` are not integers.",
    "float": "A finite JSON number (integers are accepted and saved as floats).",
    "bool": "`true` or `false`.",
    "str": "A JSON string.",
    "choice": "One of the listed values, exactly (case-sensitive). Where the description names other "
              "names for them (Keras's `mse` for `mean_squared_error`), those are read as the value they "
              "stand for, and saved as it.",
    "shape": "A list of dimensions without the batch axis; each is an integer >= 1, or `null` "
             "for a size that varies.",
    "ints": "A list of integers.",
    "strs": "A list of strings (drawn from the listed values, where there are any).",
    "path": "A file path as a string; relative paths are relative to the project file "
            "(see [Model-file paths](#model-file-paths)).",
    "json": "A JSON object, stored as is.",
}


def prose(text: str) -> str:
    """Help text as Markdown prose: `<layer>` would be swallowed as an HTML tag."""
    return re.sub(r"<(?=[A-Za-z/!])", "&lt;", text)


def cell(text: str) -> str:
    """Text made safe for one Markdown table cell."""
    return " ".join(str(text).split()).replace("|", "\\|")


def code(text: str) -> str:
    """Inline code, safe for any text."""
    return f"`{text}`" if "`" not in text else f"`` {text} ``"


def json_code(value) -> str:
    """A value as it is written in the file (defaults: `""`, `"frozen"`, `[224, 224, 3]`)."""
    return code(describe(value))


def choice_code(value) -> str:
    """Choices are listed without JSON quotes, for readability; non-strings as JSON."""
    return code(value if isinstance(value, str) else describe(value))


def _num(x) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)


def allowed(param: Param) -> str:
    """The range or choices of a parameter, as one table cell."""
    parts = []
    if param.choices:
        listed = ", ".join(choice_code(c) for c in param.choices)
        parts.append(f"any of {listed}" if param.kind == "strs" else listed)
    if param.kind in ("int", "float"):
        bounds = []
        if param.minimum is not None:
            bounds.append(f">= {_num(param.minimum)}")
        if param.maximum is not None:
            bounds.append(f"{'<' if param.exclusive_maximum else '<='} {_num(param.maximum)}")
        if bounds:
            parts.append(" and ".join(bounds))
    elif param.minimum is not None or param.maximum is not None:
        unit = {"shape": "dimension(s)", "ints": "item(s)", "strs": "item(s)"}.get(param.kind, "")
        low, high = param.minimum, param.maximum
        if low is not None and low == high:
            length = f"exactly {_num(low)}"
        else:
            length = " and ".join(([f"at least {_num(low)}"] if low is not None else []) +
                                  ([f"at most {_num(high)}"] if high is not None else []))
        parts.append(f"{length} {unit}".rstrip())
    items = ([f">= {_num(param.item_minimum)}"] if param.item_minimum is not None else []) + \
        ([f"<= {_num(param.item_maximum)}"] if param.item_maximum is not None else [])
    if items:
        parts.append(f"each {' and '.join(items)}")
    if param.optional:
        parts.append("or `null`")
    return cell("; ".join(parts))


def _port_list(ports: list[str], optional: set[str] = frozenset()) -> str:
    if not ports:
        return "none"
    return ", ".join(code(p) + (" (optional)" if p in optional else "") for p in ports)


def ports_text(node_type: NodeType) -> str:
    """The node's input and output port names, as used in edges."""
    if isinstance(node_type, Pretrained):
        # Their ports come from the model itself; never load one just for the docs.
        return ("inputs `in` (`in0`, `in1`, … for a model with several inputs); outputs `out` "
                "(`out0`, `out1`, … for several outputs; a SavedModel's several outputs are named as "
                f"its serving signature names them) plus `{TAP_PREFIX}<layer>` for each name in `taps`.")
    ctx = Context(ROOT)
    node = Node("n", node_type.name, "node", node_type.default_params())
    ins = node_type.input_ports(node, set(), ctx)
    names = [p.name for p in ins]
    optional = {p.name for p in ins if not p.required}
    inputs = _port_list(names, optional)
    if names and [p.name for p in node_type.input_ports(node, set(names), ctx)] != names:
        # A port that grows once all are connected: merges.
        inputs = f"{', '.join(code(n) for n in names)}, … (one more free port than connected)"
        optional = set()
    elif names and max_inputs_of(node_type) == len(names):
        inputs = f"{', '.join(code(n) for n in names)} (exactly {len(names)})"
    if any(p.name == "inputs" for p in node_type.params):
        node.params["inputs"] = 3
        several = [p.name for p in node_type.input_ports(node, set(), ctx)]
        inputs = f"{inputs}; with `inputs` = n > 1: {', '.join(code(n) for n in several[:2])}, …"
    outputs = _port_list(node_type.output_ports(node, ctx))
    return f"inputs {inputs}; outputs {outputs}."


def max_inputs_of(node_type: NodeType):
    return getattr(node_type, "max_inputs", None)


def notes(node_type: NodeType) -> list[str]:
    """Checks beyond the parameter table, read from the same data the checks use."""
    if node_type.name == "Application":
        small = {}
        for app in APPLICATIONS.values():
            small.setdefault(app.min_size, []).append(app.name)
        common = max(small, key=lambda size: len(small[size]))
        exceptions = "; ".join(f"{', '.join(small[s])}: {s}×{s}" for s in sorted(small)
                               if s != common)
        return [
            "`input_shape` must be (height, width, 3); height and width (unless `null`) must be at "
            f"least {common}×{common}" + (f" ({exceptions})" if exceptions else "") + ".",
            "`weights` = `\"file\"` needs a non-empty `weights_file`.",
        ]
    if node_type.name == "ModelFile":
        return ["`path` must not be empty. The file is loaded in Keras safe mode."]
    if node_type.name == "KerasLayer":
        refused = "; ".join(f"`{name}` ({why})" for name, why in REFUSED.items())
        return ["`class_name` must be a Python identifier naming a class in `keras.layers`; "
                f"refused: {refused}."]
    if node_type.name == "Reshape":
        return ["`target_shape` entries are positive integers, with at most one `-1`."]
    if node_type.name == "Permute":
        return ["`dims` must be a permutation of 1…n."]
    return []


def render_type(node_type: NodeType) -> list[str]:
    heading = f"#### `{node_type.name}`"
    if node_type.title and node_type.title != node_type.name:
        heading += f" — {node_type.title}"
    lines = [heading, "", prose(node_type.help), "",
             f"Ports: {ports_text(node_type)}", ""]
    if node_type.params:
        lines += ["| Parameter | Kind | Default | Range / choices | Description |",
                  "|---|---|---|---|---|"]
        for p in node_type.params:
            lines.append(f"| `{p.name}` | {p.kind} | {cell(json_code(p.default))} | {allowed(p)} | "
                         f"{cell(prose(p.help))} |")
        lines.append("")
    else:
        lines += ["No parameters: `params` is `{}`.", ""]
    for note in notes(node_type):
        lines += [f"- {note}"]
    if notes(node_type):
        lines.append("")
    return lines


def render() -> str:
    """The text between the markers (without them), starting and ending with a newline."""
    missing = [k for k in KINDS if k not in KIND_TEXT]
    if missing:
        raise ValueError(f"describe parameter kind(s) {missing} in KIND_TEXT of {__file__}")
    groups = by_category()
    lines = [
        "",
        "<!-- Generated by docs/gen_node_reference.py from app.core.nodes.REGISTRY; "
        "do not edit by hand. -->",
        "",
        f"{len(REGISTRY)} node types, by palette category. In the tables, defaults are written "
        "as in the file (JSON); choices are listed without their JSON quotes.",
        "",
    ]
    for category, types in groups.items():
        if types:
            names = ", ".join(f"`{t.name}`" for t in types)
            lines.append(f"- **{CATEGORY_TITLES.get(category, category.title())}**: {names}")
    lines += ["", "### Parameter kinds", "", "| Kind | Written in JSON as |", "|---|---|"]
    lines += [f"| {kind} | {cell(KIND_TEXT[kind])} |" for kind in KINDS]
    lines.append("")
    for category, types in groups.items():
        if not types:
            continue
        lines += [f"### {CATEGORY_TITLES.get(category, category.title())}", ""]
        for node_type in types:
            lines += render_type(node_type)
    return "\n".join(lines) + "\n"


def split(text: str) -> tuple[str, str, str]:
    """(before, section, after) around the markers; the markers stay in before/after."""
    if text.count(START) != 1 or text.count(END) != 1:
        raise ValueError(f"expected exactly one {START} and one {END} in {DOC}")
    head, rest = text.split(START, 1)
    section, tail = rest.split(END, 1)
    return head + START, section, END + tail


def update(path: Path = DOC) -> bool:
    """Rewrite the section in place; return whether anything changed."""
    text = path.read_text(encoding="utf-8")
    before, section, after = split(text)
    new = before + render() + after
    if new == text:
        return False
    path.write_text(new, encoding="utf-8")
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true",
                        help="do not write; exit 1 if the section is out of date")
    args = parser.parse_args(argv)
    if args.check:
        current = split(DOC.read_text(encoding="utf-8"))[1]
        if current != render():
            print(f"{DOC}: the node reference is out of date; run {Path(__file__).name}",
                  file=sys.stderr)
            return 1
        return 0
    print(f"{DOC}: {'updated' if update() else 'already up to date'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
