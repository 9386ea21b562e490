"""One-click fixes: which adapters, inserted on an edge, turn the shape it carries into the
shape its target expects. Every suggestion is checked by running the adapters' own shape
rules, so a fix that is offered always makes the shapes meet."""

from __future__ import annotations

from dataclasses import dataclass

from app.core.graph.specs import TensorSpec, element_count, format_shape, shapes_compatible


@dataclass(frozen=True)
class Step:
    type: str
    params: tuple[tuple[str, object], ...] = ()

    @property
    def params_dict(self) -> dict:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in self.params}

    def label(self) -> str:
        args = ", ".join(str(v) if not isinstance(v, tuple) else format_shape(v)
                         for _, v in self.params)
        return f"{self.type}({args})" if args else self.type


@dataclass(frozen=True)
class Fix:
    """Insert `steps` (adapters, in order) on edge `edge_id`."""

    edge_id: str
    steps: tuple[Step, ...]

    @property
    def label(self) -> str:
        return "Insert " + " → ".join(step.label() for step in self.steps)


def _step(type_name: str, **params) -> Step:
    return Step(type_name, tuple((k, tuple(v) if isinstance(v, list) else v)
                                 for k, v in params.items()))


def _candidates(got: TensorSpec, want: TensorSpec) -> list[list[Step]]:
    g, w = got.shape, want.shape
    out: list[list[Step]] = []
    if (want.is_integer and got.is_float) or (want.is_float and got.is_integer):
        out.append([_step("Cast", dtype=want.dtype)])
    if len(g) == len(w) == 4:
        height = w[1] if w[1] is not None else g[1]
        width = w[2] if w[2] is not None else g[2]
        resize = [_step("Resizing", height=height, width=width)] if height and width else []
        project = [_step("ChannelProjection", filters=w[3])] if w[3] else []
        out += [resize, project, resize + project]
    if len(g) == len(w) and w[-1] is not None:
        out.append([_step("Dense", units=w[-1])])
    if len(w) == 2 and len(g) > 2:
        k = w[1]
        pool = {4: "GlobalAveragePooling2D", 3: "GlobalAveragePooling1D"}.get(len(g))
        if pool:
            out.append([_step(pool)])
        out.append([_step("Flatten")])
        if k is not None:
            if pool:
                out.append([_step(pool), _step("Dense", units=k)])
            out.append([_step("Flatten"), _step("Dense", units=k)])
    if element_count(w[1:]) is not None:
        out.append([_step("Reshape", target_shape=list(w[1:]))])
    return [steps for steps in out if steps]


def apply_steps(steps, got: TensorSpec) -> TensorSpec | None:
    """The spec after the adapters, or None if one of them refuses."""
    from app.core.graph.graph import Node
    from app.core.nodes import ShapeError, node_type

    spec = got
    for step in steps:
        kind = node_type(step.type)
        try:
            params = kind.check_params(step.params_dict)
            spec = kind.infer(Node("probe", step.type, "probe", params), {"in": spec},
                              None).outputs["out"]
        except (ShapeError, ValueError):
            return None
    return spec


def suggest(edge_id: str, got: TensorSpec, want: TensorSpec) -> Fix | None:
    """The shortest adapter chain that makes `got` fit `want`, if one is known."""
    for steps in sorted(_candidates(got, want), key=len):
        result = apply_steps(steps, got)
        if result is not None and shapes_compatible(result.shape, want.shape) and (
            not want.is_integer or result.is_integer
        ):
            return Fix(edge_id, tuple(steps))
    return None
