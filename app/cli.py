"""Command line: `graft [PROJECT]` (the editor), `graft validate PROJECT`, `graft summary PROJECT`.

Exit codes: 0 fine, 1 the project has errors, 2 the file could not be read or the
command was used wrongly."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from app.core.project import SUFFIX, ProjectError, changed_models, load

EXIT_OK, EXIT_PROBLEMS, EXIT_USAGE = 0, 1, 2


def _quiet_tensorflow() -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def _load(path: str):
    try:
        return load(path)
    except ProjectError as error:
        print(f"graft: cannot open project: {error}", file=sys.stderr)
        return None


def cmd_validate(args) -> int:
    from app.core.validate import ERROR, WARNING, analyze

    project = _load(args.project)
    if project is None:
        return EXIT_USAGE
    graph = project.graph
    analysis = analyze(graph, project.context)
    print(f"{args.project}: {len(graph.nodes)} nodes, {len(graph.edges)} edges")
    for message in changed_models(project):
        print(f"warning: {message}")
    for problem in analysis.problems:
        print(problem)
    errors = sum(p.severity == ERROR for p in analysis.problems)
    warnings = sum(p.severity == WARNING for p in analysis.problems)
    print(f"{errors} error(s), {warnings} warning(s)" if analysis.problems else "no problems")
    return EXIT_PROBLEMS if errors else EXIT_OK


def cmd_summary(args) -> int:
    from app.core.compile import CompileError, compile_graph
    from app.core.validate import analyze

    project = _load(args.project)
    if project is None:
        return EXIT_USAGE
    analysis = analyze(project.graph, project.context)
    compiled = None
    if analysis.ok:
        try:
            compiled = compile_graph(project.graph, project.context, analysis)
        except CompileError as error:
            print(f"compile failed: {error}")
            return EXIT_PROBLEMS
    print(f"{project.name} ({args.project})")
    print(_node_table(project.graph, analysis, compiled.param_counts() if compiled else {}))
    for problem in analysis.problems:
        print(problem)
    if compiled is None:
        print("the model cannot be compiled until the errors above are fixed")
        return EXIT_PROBLEMS
    print()
    compiled.model.summary(print_fn=lambda line, **_: print(line))
    return EXIT_OK


def _node_table(graph, analysis, compiled_counts: dict) -> str:
    """One row per node: its output shape(s), parameters and, once compiled, trainable ones."""
    from app.core.nodes import node_type

    rows = [("node", "type", "output shape", "params", "trainable")]
    for node in graph.nodes:
        result = analysis.nodes.get(node.id)
        if result is None or result.outputs is None:
            shape = "?"
        elif result.outputs:
            shape = "  ".join(f"{p}={s}" if len(result.outputs) > 1 else str(s)
                              for p, s in result.outputs.items())
        else:  # an Output: show what it returns
            shape = "  ".join(str(s) for s in result.inputs.values())
        total, trainable = compiled_counts.get(node.id, (None, None))
        if total is None and result is not None:
            total, trainable = result.param_count, result.trainable_count
        rows.append((node.name, node_type(node.type).title, shape,
                     "?" if total is None else f"{total:,}",
                     "" if trainable is None else f"{trainable:,}"))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = []
    for i, row in enumerate(rows):
        lines.append("  ".join(cell.ljust(w) if j < 3 else cell.rjust(w)
                               for j, (cell, w) in enumerate(zip(row, widths))).rstrip())
        if i == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def cmd_editor(paths: list[str]) -> int:
    from app.gui.app import run  # Qt only for the editor; TensorFlow loads later, in the background

    return run(paths)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="graft", description="Compose pretrained Keras models on a node graph.")
    commands = parser.add_subparsers(dest="command")
    validate = commands.add_parser("validate", help="check a project; exit 1 on any error")
    validate.add_argument("project", help="a .graft project file")
    validate.set_defaults(run=cmd_validate)
    summary = commands.add_parser(
        "summary", help="per-node shapes and parameters, then the compiled Keras model")
    summary.add_argument("project", help="a .graft project file")
    summary.set_defaults(run=cmd_summary)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    _quiet_tensorflow()
    parser = build_parser()
    if not argv or all(Path(arg).suffix == SUFFIX for arg in argv):
        return cmd_editor(argv)  # `graft` or `graft PROJECT…` opens the editor
    args = parser.parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
