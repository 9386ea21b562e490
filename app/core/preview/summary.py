"""What one node's output looks like, for drawing: its kind (an image, a feature map, a vector,
a sequence or class probabilities), a thumbnail or a sparkline, the top 3 classes, statistics
over the batch and flags for outputs that are surely wrong (NaN, Inf, all zeros, constant).

Plain NumPy: the colour map is a small table here, so previews need no matplotlib."""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from app.core.nodes.io import CLASSIFIER_LOSSES

IMAGE, FEATURE_MAP, VECTOR, SEQUENCE = "image", "feature_map", "vector", "sequence"
PROBABILITIES = "probabilities"
NAN, INF, ZEROS, CONSTANT = "nan", "inf", "zeros", "constant"

FLAG_TEXTS = {NAN: "NaN in the output", INF: "Inf in the output", ZEROS: "all zeros",
              CONSTANT: "the same value everywhere"}
MOSAIC_CHANNELS = 16  # of a feature map, the strongest shown in its thumbnail (a 4 × 4 mosaic)
TOP = 3
# Nodes that keep an image an image: the pixels pass through, scaled, resized or cast.
IMAGE_KEEPING = ("Input", "Resizing", "Rescaling", "Preprocess", "Cast", "Dropout", "Output")
# Viridis (perceptually uniform, readable in grey), 11 stops from matplotlib's table.
VIRIDIS_STOPS = ((68, 1, 84), (72, 36, 117), (65, 68, 135), (53, 95, 141), (42, 120, 142),
                 (33, 145, 140), (34, 168, 132), (68, 191, 112), (122, 209, 81), (189, 223, 38),
                 (253, 231, 37))


@dataclass(frozen=True)
class Stats:
    mean: float
    std: float
    minimum: float
    maximum: float
    zero_share: float  # 0..1
    nan_count: int
    inf_count: int


@dataclass(frozen=True, eq=False)  # it holds arrays, which compare element by element
class NodePreview:
    node_id: str
    port: str  # the output port shown ("out" for most nodes)
    kind: str  # IMAGE | FEATURE_MAP | VECTOR | SEQUENCE | PROBABILITIES
    shape: tuple[int, ...]  # one sample's output shape (no batch axis)
    sample: np.ndarray  # one sample's output, float32 (for the larger view)
    picture: np.ndarray | None  # H×W×3 uint8 RGB: the image, or a mosaic of the strongest channels
    line: np.ndarray | None  # 1-D float32 for a sparkline (vectors, probabilities; sequences: mean per step)
    top: tuple[tuple[str, float], ...]  # top 3 (label, probability) of a classifier output; () otherwise
    stats: Stats  # over the whole batch
    flags: tuple[str, ...]  # subset of (NAN, INF, ZEROS, CONSTANT)

    @property
    def channels(self) -> int:
        """Channels of an image or a feature map (its last axis), else 1."""
        return self.shape[-1] if self.kind in (IMAGE, FEATURE_MAP) else 1

    def channel_picture(self, index: int) -> np.ndarray:
        """One channel of an image or feature map as H×W float32 (the channel picker); any other
        output as one 2-D picture: a vector as one row, a sequence as steps × features."""
        if self.kind in (IMAGE, FEATURE_MAP):
            if not 0 <= index < self.channels:
                raise IndexError(f"channel {index} of {self.channels}")
            return spatial(self.sample)[..., index]
        return np.atleast_2d(self.sample).astype(np.float32)


def flag_text(flag: str) -> str:
    """A flag in words, for a card's badge and its tooltip."""
    return FLAG_TEXTS[flag]


def kind_of(node_type: str, params: dict, shape: tuple[int, ...], fed_by: str | None,
            batch: np.ndarray | None = None) -> str:
    """What an output of `shape` (one sample's) is, from the node that makes it and the kind of
    what feeds that node (`fed_by`, None for an Input); a vector whose every sample in `batch`
    is a distribution (a pretrained classifier's softmax) is probabilities too."""
    rank = len(shape)
    if rank <= 1:
        activation = params.get("activation") or (params.get("config") or {}).get("activation")
        classifier = (activation == "softmax" or params.get("loss") in CLASSIFIER_LOSSES
                      or (node_type == "Application" and params.get("include_top"))
                      or (node_type == "Output" and fed_by == PROBABILITIES)
                      or (batch is not None and rank == 1 and shape[0] > 1 and distributions(batch)))
        return PROBABILITIES if classifier else VECTOR
    if rank == 2:
        return SEQUENCE
    image_like = node_type == "Input" or (node_type in IMAGE_KEEPING and fed_by == IMAGE)
    return IMAGE if rank == 3 and shape[-1] in (1, 3) and image_like else FEATURE_MAP


def distributions(batch: np.ndarray) -> bool:
    """Whether each sample (a row) is a probability distribution: no negative value, summing to 1."""
    values = np.asarray(batch, dtype=np.float64)
    return bool(np.all(values >= 0) and np.allclose(values.sum(axis=-1), 1.0, atol=1e-3))


def summarize(node_id: str, port: str, batch: np.ndarray, kind: str,
              labels: list[str] | None = None) -> NodePreview:
    """The preview of one node's output for a batch (first axis: samples); `labels` name the
    classes of a PROBABILITIES output where the data or the model knows them."""
    values = np.asarray(batch, dtype=np.float32)
    if values.ndim == 1:  # a scalar per sample
        values = values[:, None]
    sample = values[0]
    stats = statistics(values)
    picture = line = None
    top: tuple[tuple[str, float], ...] = ()
    if kind == IMAGE:
        picture = image_picture(spatial(sample))
    elif kind == FEATURE_MAP:
        picture = mosaic(spatial(sample), channel_strength(values))
    elif kind == SEQUENCE:
        line = finite(sample.mean(axis=-1))
    else:
        line = finite(sample.reshape(-1))
        if kind == PROBABILITIES:
            top = top_classes(line, class_labels(len(line), labels))
    return NodePreview(node_id, port, kind, tuple(sample.shape), sample, picture, line, top, stats,
                       flags(values, stats))


def statistics(values: np.ndarray) -> Stats:
    nan_count = int(np.isnan(values).sum())
    inf_count = int(np.isinf(values).sum())
    good = values[np.isfinite(values)]
    if good.size == 0:
        mean = std = low = high = math.nan
    else:
        as64 = good.astype(np.float64)
        mean, std, low, high = float(as64.mean()), float(as64.std()), float(good.min()), float(good.max())
    zero_share = float((values == 0).sum() / values.size) if values.size else 0.0
    return Stats(mean, std, low, high, zero_share, nan_count, inf_count)


def flags(values: np.ndarray, stats: Stats) -> tuple[str, ...]:
    found = []
    if stats.nan_count:
        found.append(NAN)
    if stats.inf_count:
        found.append(INF)
    if values.size and stats.zero_share == 1.0:
        found.append(ZEROS)
    elif values.size > 1 and not (stats.nan_count or stats.inf_count) and stats.minimum == stats.maximum:
        found.append(CONSTANT)
    return tuple(found)


def spatial(sample: np.ndarray) -> np.ndarray:
    """A sample of rank 3 or more as height × width × channels (leading axes stacked as rows)."""
    return sample.reshape(-1, *sample.shape[-2:])


def finite(values: np.ndarray) -> np.ndarray:
    """NaN and ±Inf as 0, so that a drawing of them stays drawable (the flags say they were there)."""
    return np.nan_to_num(values.astype(np.float32), nan=0.0, posinf=0.0, neginf=0.0)


def image_picture(image: np.ndarray) -> np.ndarray:
    """An image as RGB uint8: pixels in 0…1 or 0…255 as they are, any other range stretched to fit."""
    pixels = finite(image)
    low, high = float(pixels.min()), float(pixels.max())
    if low >= 0 and high <= 1:
        pixels = pixels * 255
    elif not (low >= 0 and high <= 255):
        pixels = (pixels - low) / (high - low or 1) * 255
    pixels = np.clip(np.rint(pixels), 0, 255).astype(np.uint8)
    return np.repeat(pixels, 3, axis=-1) if pixels.shape[-1] == 1 else pixels


def channel_strength(values: np.ndarray) -> np.ndarray:
    """Each channel's mean activation over the batch (NaN and Inf count as 0)."""
    return finite(values).reshape(-1, values.shape[-1]).mean(axis=0)


def mosaic(feature_map: np.ndarray, strength: np.ndarray) -> np.ndarray:
    """The strongest channels side by side in a square grid, each stretched to its own range and
    colour-mapped, with a one-pixel dark gap between them."""
    chosen = np.argsort(-strength, kind="stable")[:MOSAIC_CHANNELS]
    side = math.ceil(math.sqrt(len(chosen)))
    rows = math.ceil(len(chosen) / side)
    height, width = feature_map.shape[:2]
    picture = np.zeros(((height + 1) * rows - 1, (width + 1) * side - 1, 3), np.uint8)
    for place, channel in enumerate(chosen):
        top, left = (place // side) * (height + 1), (place % side) * (width + 1)
        picture[top:top + height, left:left + width] = colour_mapped(feature_map[..., channel])
    return picture


def colour_mapped(plane: np.ndarray) -> np.ndarray:
    """One channel, stretched to its own range (a constant one is the lowest colour), as viridis."""
    values = finite(plane)
    low, high = float(values.min()), float(values.max())
    scaled = (values - low) / (high - low) if high > low else np.zeros_like(values)
    return viridis()[np.clip(np.rint(scaled * 255), 0, 255).astype(np.intp)]


@lru_cache(maxsize=1)
def viridis() -> np.ndarray:
    """256 × 3 uint8: the stops interpolated."""
    stops = np.asarray(VIRIDIS_STOPS, np.float64)
    at = np.linspace(0, len(stops) - 1, 256)
    table = np.stack([np.interp(at, np.arange(len(stops)), stops[:, c]) for c in range(3)], axis=1)
    return np.rint(table).astype(np.uint8)


def top_classes(probabilities: np.ndarray, labels: list[str]) -> tuple[tuple[str, float], ...]:
    best = np.argsort(-probabilities, kind="stable")[:TOP]
    return tuple((labels[i], float(probabilities[i])) for i in best)


def class_labels(count: int, names: list[str] | None) -> list[str]:
    """Names for `count` classes: the data's, imagenet's for 1000 classes when Keras has cached
    its class index (never downloaded here), else "class 7"."""
    if names and len(names) >= count:
        return list(names[:count])
    if count == 1000:
        imagenet = imagenet_names()
        if imagenet:
            return imagenet
    return [f"class {i}" for i in range(count)]


def imagenet_names() -> list[str] | None:
    """The 1000 imagenet class names from Keras's cache, if a decode_predictions ever fetched them."""
    keras_home = Path(os.environ.get("KERAS_HOME") or Path.home() / ".keras")
    path = keras_home / "models" / "imagenet_class_index.json"
    try:
        return _read_imagenet_names(str(path), path.stat().st_mtime_ns)
    except OSError:
        return None


@lru_cache(maxsize=2)
def _read_imagenet_names(path: str, modified: int) -> list[str] | None:
    """Read once per version of the file (`modified` keys the cache)."""
    try:
        index = json.loads(Path(path).read_text(encoding="utf-8"))
        return [index[str(i)][1].replace("_", " ") for i in range(1000)]
    except (OSError, ValueError, KeyError, IndexError, TypeError):
        return None
