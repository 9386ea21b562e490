"""The architecture holds: the import-linter contracts (the core never imports Qt; its layers import
only downward), importing every core module pulls in neither PySide6 nor pyqtgraph nor TensorFlow
(which loads lazily), no app modules import each other in a cycle, and no module reaches into
another's private names. The last two parse the sources with ast, so lazy imports count too."""

import ast
import subprocess
import sys
from pathlib import Path

import networkx as nx

from tests.conftest import ROOT


def test_import_linter_contract_holds():
    lint = Path(sys.executable).with_name("lint-imports")
    done = subprocess.run([str(lint)], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "The core never imports Qt, pyqtgraph or the GUI KEPT" in done.stdout
    assert "Core layers import only downward KEPT" in done.stdout
    assert "2 kept, 0 broken" in done.stdout


# Subclasses of Keras classes, imported only once a training run has started.
KERAS_BOUND = {"app.core.training.callbacks", "app.core.training.optim"}


def test_core_imports_without_qt_or_tensorflow():
    modules = sorted(
        {".".join(p.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
         for p in (ROOT / "app" / "core").rglob("*.py")} - KERAS_BOUND)
    script = (
        "import importlib, sys\n"
        f"for name in {modules!r}: importlib.import_module(name)\n"
        "bad = [m for m in ('PySide6', 'pyqtgraph', 'tensorflow', 'keras', 'app.gui') "
        "if m in sys.modules]\n"
        "print('loaded:', bad)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          cwd=ROOT, timeout=300)
    assert done.stdout.strip() == "loaded: []", done.stdout + done.stderr


def test_keras_bound_lists_the_modules_importing_keras_at_import_time():
    """KERAS_BOUND stays exact: a core module importing Keras or TensorFlow when it is imported (not
    in a function) is listed, and so left out of the check above, only on purpose."""
    found = {name for name, path in app_modules(ROOT, "app.core").items()
             if {"keras", "tensorflow"} & import_time_imports(path)}
    assert found == KERAS_BOUND


# --- Imports read from the sources ---------------------------------------------------------------

def app_modules(root: Path, package: str = "app") -> dict[str, Path]:
    """Every module of `package` under `root` by dotted name; a package is its __init__."""
    modules = {}
    for path in sorted((root / Path(*package.split("."))).rglob("*.py")):
        parts = path.relative_to(root).with_suffix("").parts
        modules[".".join(parts).removesuffix(".__init__")] = path
    return modules


def _imports(name: str, path: Path, tree: ast.Module):
    """(statement, module imported, [(name taken from it, local name)]) for every import in the
    module at any depth, lazy ones in functions included; relative imports resolved against `name`.
    A plain `import a.b as c` gives no names and binds c (or a, without `as`)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node, alias.name, [], alias.asname or alias.name.partition(".")[0]
        elif isinstance(node, ast.ImportFrom):
            base = package
            for _ in range(node.level - 1):
                base = base.rpartition(".")[0]
            module = ".".join(p for p in (base if node.level else "", node.module or "") if p)
            yield node, module, [(a.name, a.asname or a.name) for a in node.names], None


def import_time_imports(path: Path) -> set[str]:
    """Top-level packages a module imports when it is imported itself: not those in function bodies
    (lazy) nor under `if TYPE_CHECKING:` (never run)."""
    found = set()
    todo = list(ast.parse(path.read_text(encoding="utf-8"), str(path)).body)
    while todo:
        node = todo.pop()
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            continue
        if isinstance(node, ast.If) and (_dotted(node.test) or "").endswith("TYPE_CHECKING"):
            todo += node.orelse
            continue
        if isinstance(node, ast.Import):
            found |= {alias.name.partition(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and not node.level:
            found.add(node.module.partition(".")[0])
        todo += ast.iter_child_nodes(node)
    return found


def _parsed(modules: dict[str, Path]):
    for name, path in modules.items():
        yield name, path, ast.parse(path.read_text(encoding="utf-8"), str(path))


def _is_app(module: str, modules: dict[str, Path]) -> bool:
    return module in modules or any(m.startswith(module + ".") for m in modules)


def import_graph(modules: dict[str, Path]) -> nx.DiGraph:
    """Module → app module it imports, as written: `from app.x import y` reaches app.x.y where that
    is a module and app.x otherwise; the parent packages an import loads on the way are not edges.
    Lazy imports in functions and those under `if TYPE_CHECKING:` count too; third-party imports
    are not app modules and are left out, lazy or not."""
    graph = nx.DiGraph()
    graph.add_nodes_from(modules)
    for name, path, tree in _parsed(modules):
        for _node, module, names, _bound in _imports(name, path, tree):
            targets = {f"{module}.{n}" if f"{module}.{n}" in modules else module for n, _ in names}
            graph.add_edges_from((name, t) for t in targets or {module} if t in modules and t != name)
    return graph


def import_cycles(modules: dict[str, Path]) -> list[list[str]]:
    """Every elementary cycle, each starting from its smallest module so the report is stable."""
    cycles = []
    for cycle in nx.simple_cycles(import_graph(modules)):
        first = cycle.index(min(cycle))
        cycles.append(cycle[first:] + cycle[:first])
    return sorted(cycles)


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def _dotted(node: ast.expr) -> str | None:
    """`a.b.c` as a string; None for anything but names and attributes."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    return ".".join([node.id, *reversed(parts)]) if isinstance(node, ast.Name) else None


def private_imports(modules: dict[str, Path], root: Path) -> list[str]:
    """`file:line name` for each private name of an app module that code takes: by `from m import _x`,
    by importing a private module, or as an attribute (`m._x`, `m.C._x`, `C._x`) of an app module or
    of a name it imported from one. Dunder names (`__version__`, `__init__`) are not private.
    Private attributes of objects (`obj._x`) are out of reach without types and not checked."""
    found = []
    for name, path, tree in _parsed(modules):
        where = path.relative_to(root).as_posix()
        bound = {}  # local name → what it stands for, from an app import
        for node, module, names, local in _imports(name, path, tree):
            if not _is_app(module, modules):
                continue
            if any(_private(part) for part in module.split(".")):
                found.append((where, node.lineno, module))
            found += [(where, node.lineno, f"{module}.{n}") for n, _ in names if _private(n)]
            if local:  # `import app.x.y` binds app; `import app.x.y as z` binds z to app.x.y
                bound[local] = module if local != module.partition(".")[0] else local
            bound.update({as_: f"{module}.{n}" for n, as_ in names})
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and _private(node.attr):
                head, _, rest = (_dotted(node.value) or "").partition(".")
                if head in bound:
                    found.append((where, node.lineno, ".".join(filter(None, (bound[head], rest, node.attr)))))
    return [f"{file}:{line} {what}" for file, line, what in sorted(found)]


def test_no_import_cycles_among_app_modules():
    cycles = import_cycles(app_modules(ROOT))
    assert not cycles, "import cycles:\n" + "\n".join(" -> ".join([*c, c[0]]) for c in cycles)


def test_no_private_names_imported_across_modules():
    found = private_imports(app_modules(ROOT), ROOT)
    assert not found, "private names used from another module:\n" + "\n".join(found)


def _package(tmp_path: Path, files: dict[str, str]) -> dict[str, Path]:
    for rel, text in files.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(text, encoding="utf-8")
    return app_modules(tmp_path)


def test_cycle_detector_finds_lazy_and_package_cycles(tmp_path):
    modules = _package(tmp_path, {
        "app/__init__.py": "",
        "app/a/__init__.py": "from app.a.b import B\n",
        "app/a/b.py": "import keras\nB = 1\ndef f():\n    from app.c import g\n",
        "app/c.py": "def g():\n    import tensorflow\n    from app.a import b\n",  # lazy both ways
        "app/d.py": "import app.a.b\nfrom app.a import B\n",  # parents loaded, not edges
    })
    graph = import_graph(modules)
    assert set(graph.edges) == {("app.a", "app.a.b"), ("app.a.b", "app.c"), ("app.c", "app.a.b"),
                                ("app.d", "app.a.b"), ("app.d", "app.a")}
    assert import_cycles(modules) == [["app.a.b", "app.c"]]
    assert import_cycles({m: p for m, p in modules.items() if m != "app.c"}) == []


def test_import_time_imports_leave_out_lazy_and_type_checking_ones(tmp_path):
    module = tmp_path / "m.py"
    module.write_text("import numpy.linalg\nfrom typing import TYPE_CHECKING\n"
                      "try:\n    import keras\nexcept ImportError:\n    pass\n"
                      "class K:\n    from json import dumps\n"
                      "if TYPE_CHECKING:\n    import tensorflow\nelse:\n    import os\n"
                      "def f():\n    import onnx\n", encoding="utf-8")
    assert import_time_imports(module) == {"numpy", "typing", "keras", "json", "os"}


def test_private_name_detector_finds_each_way_in(tmp_path):
    modules = _package(tmp_path, {
        "app/__init__.py": "__version__ = '1'\n",
        "app/a.py": "_x = 1\nclass _K: ...\nPUBLIC = 2\n",
        "app/_hidden.py": "",
        "app/pkg/__init__.py": "",
        "app/pkg/m.py": "_y = 3\n",
        "app/ok.py": ("from app import __version__\nfrom app.a import PUBLIC\nimport app.a\n"
                      "import os\nos._exit\nclass C:\n    def f(self):\n        return self._z\n"
                      "PUBLIC.__doc__\n"),
        "app/bad.py": ("from app.a import _x, PUBLIC\n"
                       "def f():\n    from app.a import _K\n"
                       "import app._hidden\n"
                       "from app.pkg import m\nm._y\n"
                       "import app.pkg.m as mm\nmm._y\n"
                       "import app.a\napp.a._x\n"
                       "from . import _hidden\n"
                       "from app.a import PUBLIC\nPUBLIC._z\n"),
    })
    assert private_imports(modules, tmp_path) == [
        "app/bad.py:1 app.a._x",
        "app/bad.py:3 app.a._K",
        "app/bad.py:4 app._hidden",
        "app/bad.py:6 app.pkg.m._y",
        "app/bad.py:8 app.pkg.m._y",
        "app/bad.py:10 app.a._x",
        "app/bad.py:11 app._hidden",
        "app/bad.py:13 app.a.PUBLIC._z",
    ]
