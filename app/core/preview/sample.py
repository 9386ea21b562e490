"""What previews are computed on: the first batch of the project's validation data (read the way
a run reads it, through training/data.py), or files the user picks (images, an .npz, CSV rows),
each mapped to the graph's Inputs."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from app.core.analysis.validate import analyze
from app.core.graph.specs import TensorSpec, format_shape, shapes_compatible
from app.core.nodes import node_type
from app.core.nodes.base import INPUT, OUTPUT
from app.core.training.data import LABEL_COLUMNS, prepare
from app.core.training.images import COLOR_MODES
from app.core.training.sources import IMAGE_SUFFIXES, DataError, load_table, npz_fields, read_csv

SAMPLE_COUNT = 8  # samples previews are computed on: enough for statistics, quick on any model


@dataclass(frozen=True, eq=False)  # it holds arrays, which compare element by element
class Sample:
    arrays: dict[str, np.ndarray]  # Input node name → batch (first axis: samples)
    source: str  # what it is, for the UI: "validation data: first 8 of digits_holdout"
    class_names: dict[str, list[str]] = field(default_factory=dict)  # classifier Output name → class names


class SampleError(ValueError):
    """A sample that cannot be made, with a one-line message naming the place and the fix."""


def validation_sample(project, count: int = SAMPLE_COUNT) -> Sample:
    """The first `count` validation samples of the project's training data (the first training
    batch when it holds none out), with the class names of its classifier Outputs."""
    graph, data = project.graph, project.training.data
    losses = {n.name: n.params["loss"] for n in graph.nodes if node_type(n.type).category == OUTPUT
              and n.params["loss"] != "none" and n.name in data["mapping"]}
    try:
        prepared = prepare(data, graph, analyze(graph, project.context), project.folder, batch_size=count,
                           seed=project.training.settings["seed"], losses=losses)
    except (DataError, OSError) as error:
        raise SampleError(f"training data: {error}; or pick sample files for the previews") from None
    if prepared.validation_arrays is not None:
        features = prepared.validation_arrays[0]
        what, name = "validation data", data["validation_path"] or f"{data['path']} (validation split)"
    else:
        features = next(prepared.train.take(1).as_numpy_iterator())[0]
        what, name = "training data", data["path"]
    arrays = {input_name: np.asarray(batch[:count]) for input_name, batch in features.items()}
    shown = len(next(iter(arrays.values())))
    return Sample(arrays, f"{what}: first {shown} of {Path(name).name}", dict(prepared.class_names))


def sample_from_files(project, paths: list[str | Path]) -> Sample:
    """Samples from files the user picks: images (for the one Input that takes images, resized to
    it), an .npz (arrays named as in the data mapping or after the Inputs), CSV rows (the mapped
    columns, or every numeric column but the label); the first SAMPLE_COUNT of each."""
    if not paths:
        raise SampleError("no files picked; pick images, an .npz or a .csv file for the previews")
    specs = _input_specs(project)
    if not specs:
        raise SampleError("the graph has no Input to feed; add an Input first")
    found: dict[str, list[np.ndarray]] = {}
    for path in map(Path, paths):
        if not path.is_file():
            raise SampleError(f"{path}: file not found; pick an existing file")
        suffix = path.suffix.lower()
        if suffix in IMAGE_SUFFIXES:
            name = _image_input(specs, path)
            found.setdefault(name, []).append(_read_image(path, specs[name])[None])
        elif suffix in (".npz", ".csv"):
            for name, batch in _read_table(project, path, suffix[1:], specs).items():
                found.setdefault(name, []).append(batch)
        else:
            raise SampleError(f"{path.name}: previews read images ({', '.join(IMAGE_SUFFIXES)}), .npz and "
                              ".csv files; pick one of those")
    arrays = {name: np.concatenate(parts)[:SAMPLE_COUNT].astype(specs[name].dtype)
              for name, parts in found.items()}
    shown = min(len(batch) for batch in arrays.values())
    arrays = {name: batch[:shown] for name, batch in arrays.items()}
    files = ", ".join(Path(p).name for p in paths[:3]) + (", …" if len(paths) > 3 else "")
    return Sample(arrays, f"files: {shown} sample{'s' * (shown != 1)} from {files}")


def _input_specs(project) -> dict[str, TensorSpec]:
    analysis = analyze(project.graph, project.context)
    return {n.name: spec for n in project.graph.nodes if node_type(n.type).category == INPUT
            and (spec := analysis.output_spec(n.id)) is not None}


def _image_input(specs: dict[str, TensorSpec], path: Path) -> str:
    takes_images = [name for name, spec in specs.items() if len(spec.features) == 3
                    and spec.features[2] in COLOR_MODES]
    if len(takes_images) != 1:
        which = "no Input takes" if not takes_images else f"{len(takes_images)} Inputs take"
        raise SampleError(f"{path.name}: {which} images (height, width, 1, 3 or 4 channels); pick an .npz "
                          "that names the Inputs instead")
    return takes_images[0]


def _read_image(path: Path, spec: TensorSpec) -> np.ndarray:
    """An image as the Input takes it: its size (when the Input fixes one) and channels, 0…255 pixels
    as an image folder gives them."""
    import keras

    height, width, channels = spec.features
    size = (height, width) if height is not None and width is not None else None
    try:
        image = keras.utils.load_img(path, color_mode=COLOR_MODES[channels], target_size=size)
    except Exception as error:  # PIL reports unreadable images with assorted exception types
        raise SampleError(f"{path.name} is not a readable image ({error}); pick a .png or .jpg file") \
            from None
    return keras.utils.img_to_array(image, dtype="float32")


def _read_table(project, path: Path, kind: str, specs: dict[str, TensorSpec]) -> dict[str, np.ndarray]:
    """Each Input's samples in an .npz or a CSV file, by Input name."""
    mapping = project.training.data["mapping"]
    try:
        offered = npz_fields(path) if kind == "npz" else dict.fromkeys(read_csv(path, limit=1)[0], ((), ""))
        fields = {name: _field(name, spec, mapping.get(name), offered, kind) for name, spec in specs.items()}
        fields = {name: f for name, f in fields.items() if f is not None}
        if not fields:
            raise SampleError(f"{path.name} has no {'array' if kind == 'npz' else 'columns'} for the Inputs "
                              f"({', '.join(specs)}); name them as the data mapping or the Inputs do")
        wanted = {column for f in fields.values() for column in ([f] if isinstance(f, str) else f)}
        table = load_table(kind, path, wanted)
        arrays = {name: table.numbers(f, f"Input {name!r}")[:SAMPLE_COUNT] for name, f in fields.items()}
    except DataError as error:
        raise SampleError(str(error)) from None
    for name, batch in arrays.items():
        if not shapes_compatible(batch.shape[1:], specs[name].features):
            raise SampleError(f"{table.describe(fields[name])} has samples of shape "
                              f"{format_shape(batch.shape[1:])}, but Input {name!r} takes "
                              f"{format_shape(specs[name].features)}; pick data that fits")
    return arrays


def _field(name: str, spec: TensorSpec, mapped, offered: dict, kind: str):
    """The array or columns that feed Input `name`: the mapped ones, those named after it, or (the
    one Input a CSV can feed) every numeric column but the label, when they are as many as it takes."""
    for candidate in (mapped, name):
        columns = [candidate] if isinstance(candidate, str) else candidate or []
        if columns and all(c in offered for c in columns):
            return candidate
    if kind == "npz":
        fitting = [f for f, (shape, _) in offered.items() if shapes_compatible(shape, spec.features)]
        return fitting[0] if len(fitting) == 1 else None
    features = [c for c in offered if c.lower() not in LABEL_COLUMNS]
    return features if spec.features == (len(features),) else None
