"""Where a new node goes: the space a node card takes on the canvas, and the free spot nearest
to where the user asked for one. Every way of adding nodes (the palette, quick-add, paste,
duplicate, a twin, a fix's adapters) places through here, so nothing lands on another node,
in the editor and in scripts alike.

Sizes come from the card geometry the canvas draws with (`nodes/appearance.py`). A pretrained
node's ports come from its model, which placement never loads: its size is estimated from the
ports its connections and taps name, and the clearance kept around every node absorbs a row
or two more."""

from __future__ import annotations

from collections.abc import Iterable

from app.core.graph.graph import Edge, Graph, Node
from app.core.nodes import Context, node_type
from app.core.nodes.appearance import NODE_WIDTH, node_height
from app.core.nodes.base import PRETRAINED
from app.core.nodes.pretrained import TAP_PREFIX

Position = tuple[float, float]
Size = tuple[float, float]
Rect = tuple[float, float, float, float]  # left, top, width, height

CLEARANCE = 40.0  # kept free between a placed node and every other card
COLUMN = 320.0  # one column of the auto-layout: a card and the room its connections bend in


def node_size(graph: Graph, node: Node) -> Size:
    """The card's width and height on the canvas, for a node in `graph` or about to be added."""
    kind = node_type(node.type)
    placed = graph.has_node(node.id)
    into = {e.target_port for e in graph.in_edges(node.id)} if placed else set()
    if kind.category == PRETRAINED:
        out_of = {e.source_port for e in graph.out_edges(node.id)} if placed else set()
        outputs = {port for port in out_of if not port.startswith(TAP_PREFIX)}
        rows = max(len(into), 1) + max(len(outputs), 1) + len(node.params.get("taps", ()))
    else:
        rows = len(kind.input_ports(node, into, Context())) + len(kind.output_ports(node, Context()))
    return NODE_WIDTH, node_height(rows)


def node_rect(graph: Graph, node: Node) -> Rect:
    return (*node.position, *node_size(graph, node))


def overlap(a: Rect, b: Rect) -> bool:
    """Whether two cards cover a common point (touching edges do not)."""
    return a[0] < b[0] + b[2] and b[0] < a[0] + a[2] and a[1] < b[1] + b[3] and b[1] < a[1] + a[3]


def occupied(graph: Graph, moved: dict[str, Position] | None = None) -> list[Rect]:
    """Every card's rectangle, with the nodes in `moved` where they are about to go."""
    moved = moved or {}
    return [(*moved.get(node.id, node.position), *node_size(graph, node)) for node in graph.nodes]


def free_position(graph: Graph, near: Position, size: Size,
                  taken: Iterable[Rect] | None = None) -> Position:
    """The top-left nearest to `near` where a card of `size` keeps CLEARANCE from every node of
    `graph` (or from the rectangles `taken`); `near` itself when it is free."""
    w, h = size
    gap = CLEARANCE
    # Where the top-left must not be (open boxes): each card grown by the clearance, and by
    # the new card's size up and to the left.
    blocked = [(x - gap - w, y - gap - h, x + rw + gap, y + rh + gap)
               for x, y, rw, rh in (occupied(graph) if taken is None else taken)]
    nx, ny = near

    def free(px: float, py: float, boxes) -> bool:
        return not any(left < px < right and top < py < bottom for left, top, right, bottom in boxes)

    if free(nx, ny, blocked):
        return near
    # The nearest free point lies on an edge of a box, level with `near` or at a corner. Only
    # boxes reaching into the square of `radius` can block a point that close, so look there
    # first and widen until a free point turns up (one always does, past the last box).
    radius = w + h + gap
    while True:
        local = [b for b in blocked if b[0] < nx + radius and b[2] > nx - radius
                 and b[1] < ny + radius and b[3] > ny - radius]
        xs = {nx} | {b[0] for b in local} | {b[2] for b in local}
        ys = {ny} | {b[1] for b in local} | {b[3] for b in local}
        candidates = sorted((((x - nx) ** 2 + (y - ny) ** 2), x, y) for x in xs for y in ys)
        for distance, x, y in candidates:
            if distance > radius ** 2:
                break
            if free(x, y, local):
                return round(x, 2), round(y, 2)
        radius *= 2


def free_offset(graph: Graph, block: Graph, offset: Position) -> Position:
    """The offset nearest to `offset` that puts the nodes of `block` clear of every node in
    `graph`: a paste or a duplicate lands beside what is there, its own layout kept."""
    rects = occupied(block)
    if not rects:
        return offset
    left, top = min(r[0] for r in rects), min(r[1] for r in rects)
    right, bottom = max(r[0] + r[2] for r in rects), max(r[1] + r[3] for r in rects)
    x, y = free_position(graph, (left + offset[0], top + offset[1]), (right - left, bottom - top))
    return x - left, y - top


def insertion_room(graph: Graph, edge: Edge, count: int) -> tuple[dict[str, Position], list[Position]]:
    """Room for `count` adapters on `edge`: the moves that make it and where each adapter goes.

    When the target is to the right of the source, every node from the target's column on
    moves right until there is a column for each adapter between the two (their places among
    themselves, and so the rest of the layout, unchanged); the adapters go in those columns,
    on the line between source and target. Each then takes the free spot nearest to that."""
    source, target = graph.node(edge.source), graph.node(edge.target)
    (sx, sy), (tx, ty) = source.position, target.position
    moves: dict[str, Position] = {}
    if tx > sx:
        shift = sx + (count + 1) * COLUMN - tx
        if shift > 0:
            moves = {node.id: (node.position[0] + shift, node.position[1])
                     for node in graph.nodes if node.position[0] >= tx}
            tx += shift
    taken = occupied(graph, moves)
    size = (NODE_WIDTH, node_height(2))  # an adapter: one input, one output
    places = []
    for i in range(1, count + 1):
        wanted = (round(sx + (tx - sx) * i / (count + 1), 2), round(sy + (ty - sy) * i / (count + 1), 2))
        place = free_position(graph, wanted, size, taken)
        places.append(place)
        taken.append((*place, *size))
    return moves, places
