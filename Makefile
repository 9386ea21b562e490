# Graft — `make run` opens Graft on an example, `make test` runs the whole suite headless.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
EXAMPLE ?= resources/examples/cascade.graft
export TF_CPP_MIN_LOG_LEVEL ?= 3

.PHONY: run test lint bench reliability screenshots resources package install-desktop clean

# Headless only where no window should appear; `make run` opens a real one.
test bench reliability screenshots: export QT_QPA_PLATFORM ?= offscreen

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Reinstall whenever pyproject.toml changes.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

run: $(VENV)/.installed
	$(BIN)/graft $(EXAMPLE)

test: $(VENV)/.installed
	$(BIN)/lint-imports
	$(BIN)/ruff check app tests benchmarks resources
	$(BIN)/python -m pytest

bench: $(VENV)/.installed
	$(BIN)/python benchmarks/validate_graph.py
	$(BIN)/python benchmarks/editor.py
	$(BIN)/python benchmarks/training.py
	$(BIN)/python benchmarks/handwritten.py
	$(BIN)/python benchmarks/project_scale.py
	$(BIN)/python benchmarks/plots.py
	$(BIN)/python benchmarks/previews.py
	$(BIN)/python benchmarks/prefix_cache.py
	$(BIN)/python benchmarks/recipes.py
	$(BIN)/python benchmarks/export.py

# The long parts of the reliability suite (about ten minutes) → docs/reliability.md
reliability: $(VENV)/.installed
	$(BIN)/python benchmarks/reliability.py

screenshots: $(VENV)/.installed
	$(BIN)/python docs/gen_screenshots.py

resources: $(VENV)/.installed
	$(BIN)/python resources/build_resources.py

# The desktop app, one folder: dist/graft/graft is the editor and the command line (packaging/README.md)
package: $(VENV)/.installed
	$(BIN)/python -m PyInstaller --noconfirm --log-level WARN --distpath dist --workpath build/pyinstaller \
		packaging/graft.spec

# Graft in this user's application menu, .graft files opening in it (XDG_DATA_HOME or ~/.local/share)
install-desktop: $(VENV)/.installed
	$(BIN)/graft --install-desktop

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis *.egg-info build dist
