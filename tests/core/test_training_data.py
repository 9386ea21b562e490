"""Training data: each source loads into batched dict pipelines with the right counts, splits
and class names, and every problem a user can make is a DataError that names the place."""

import csv
from pathlib import Path

import numpy as np
import pytest

from app.core.analysis.validate import analyze
from app.core.document.training_setup import DATA
from app.core.editing.builder import GraphBuilder
from app.core.graph.params import check_params
from app.core.training.data import prepare, suggest_mapping
from app.core.training.sources import RESOURCES, DataError, fields

SPARSE = "sparse_categorical_crossentropy"


def dense_graph(shape=(4,), units=3, loss=SPARSE, dtype="float32", flatten=False):
    """Input 'x' → (Flatten) → Dense → Output 'y'."""
    b = GraphBuilder()
    b.add("x", "Input", shape=list(shape), dtype=dtype)
    b.add("dense", "Dense", units=units)
    b.add("y", "Output", loss=loss)
    if flatten:
        b.add("flat", "Flatten")
        b.chain("x", "flat", "dense", "y")
    else:
        b.chain("x", "dense", "y")
    return b.graph, analyze(b.graph)


def source(kind, path, mapping, **settings):
    return check_params(DATA, {"source": kind, "path": str(path), "mapping": mapping, **settings})


def load(data, graph_and_analysis, base_dir, batch_size=4, seed=0, losses=None):
    graph, analysis = graph_and_analysis
    if losses is None:
        losses = {n.name: n.params["loss"] for n in graph.nodes
                  if n.type == "Output" and n.params["loss"] != "none"}
    return prepare(data, graph, analysis, base_dir, batch_size=batch_size, seed=seed, losses=losses)


def write_npz(folder: Path, name="data.npz", **arrays) -> Path:
    np.savez(folder / name, **arrays)
    return folder / name


def write_csv(folder: Path, rows, name="data.csv") -> Path:
    with open(folder / name, "w", newline="") as stream:
        csv.writer(stream).writerows(rows)
    return folder / name


def write_images(folder: Path, per_class: dict[str, int], size=(6, 5)) -> Path:
    import tensorflow as tf

    rng = np.random.default_rng(0)
    for name, count in per_class.items():
        (folder / name).mkdir(parents=True)
        for i in range(count):
            pixels = rng.integers(0, 256, (*size, 3), dtype=np.uint8)
            (folder / name / f"{i}.png").write_bytes(tf.io.encode_png(pixels).numpy())
    return folder


def feature_ids(dataset) -> list[int]:
    """The first feature of every sample in iteration order: the sample's id in these tests."""
    return [int(v) for inputs, _ in dataset for v in inputs["x"][:, 0]]


def numbered(n=20, classes=3):
    """Samples whose first feature is their row number."""
    x = np.tile(np.arange(n, dtype=np.float64)[:, None], (1, 4))
    return x, np.arange(n) % classes


# -- sources ---------------------------------------------------------------------


def test_npz_gives_batched_dicts_with_a_validation_split(tmp_path):
    x, y = numbered()
    write_npz(tmp_path, features=x, labels=y)
    data = source("npz", "data.npz", {"x": "features", "y": "labels"}, validation_split=0.25)
    prepared = load(data, dense_graph(), tmp_path)
    assert (prepared.train_count, prepared.validation_count, prepared.steps_per_epoch) == (15, 5, 4)
    inputs, targets = next(iter(prepared.train))
    assert inputs["x"].shape == (4, 4) and inputs["x"].dtype.name == "float32"
    assert targets["y"].shape == (4,) and targets["y"].dtype.name == "int32"
    assert prepared.class_names == {"y": ["0", "1", "2"]}
    val_inputs, val_targets = prepared.validation_arrays
    assert val_inputs["x"].shape == (5, 4) and val_targets["y"].shape == (5,)
    assert sum(len(t["y"]) for _, t in prepared.validation) == 5


def test_no_split_means_no_validation(tmp_path):
    x, y = numbered()
    write_npz(tmp_path, features=x, labels=y)
    data = source("npz", "data.npz", {"x": "features", "y": "labels"}, validation_split=0.0)
    prepared = load(data, dense_graph(), tmp_path)
    assert (prepared.train_count, prepared.validation_count) == (20, 0)
    assert prepared.validation is None and prepared.validation_arrays is None


def test_csv_columns_stack_and_text_labels_become_sorted_classes(tmp_path):
    kinds = ["dog", "cat", "bird", "cat", "dog", "dog"]
    write_csv(tmp_path, [["a", "b", "kind"]] + [[i, i * 10, kind] for i, kind in enumerate(kinds)])
    data = source("csv", "data.csv", {"x": ["a", "b"], "y": "kind"}, validation_split=0.0, shuffle=False)
    prepared = load(data, dense_graph(shape=(2,)), tmp_path, batch_size=6)
    assert prepared.class_names == {"y": ["bird", "cat", "dog"]}
    inputs, targets = next(iter(prepared.train))
    assert inputs["x"].numpy().tolist() == [[i, i * 10] for i in range(6)]
    assert targets["y"].numpy().tolist() == [2, 1, 0, 1, 2, 2]


def test_csv_text_labels_one_hot_for_categorical_crossentropy(tmp_path):
    write_csv(tmp_path, [["a", "kind"], [1, "no"], [2, "yes"], [3, "no"]])
    data = source("csv", "data.csv", {"x": ["a"], "y": "kind"}, validation_split=0.0, shuffle=False)
    prepared = load(data, dense_graph(shape=(1,), units=2, loss="categorical_crossentropy"), tmp_path)
    assert next(iter(prepared.train))[1]["y"].numpy().tolist() == [[1, 0], [0, 1], [1, 0]]
    assert prepared.class_names == {"y": ["no", "yes"]}


def test_regression_targets_of_one_value_fit_an_output_of_one(tmp_path):
    write_npz(tmp_path, features=np.ones((6, 4), np.int64), value=np.linspace(0, 1, 6))
    data = source("npz", "data.npz", {"x": "features", "y": "value"}, validation_split=0.5)
    prepared = load(data, dense_graph(units=1, loss="mean_squared_error"), tmp_path)
    inputs, targets = prepared.validation_arrays
    assert inputs["x"].dtype == np.float32 and targets["y"].shape == (3, 1)
    assert prepared.class_names == {}


def test_image_folder_splits_and_loads_at_the_inputs_size(tmp_path):
    write_images(tmp_path / "photos", {"cats": 3, "dogs": 3})
    data = source("images", "photos", {"x": "image", "y": "label"}, validation_split=0.34)
    prepared = load(data, dense_graph(shape=(4, 4, 1), units=2, flatten=True), tmp_path)
    assert (prepared.train_count, prepared.validation_count) == (4, 2)
    assert prepared.class_names == {"y": ["cats", "dogs"]}
    inputs, targets = next(iter(prepared.train))
    assert inputs["x"].shape[1:] == (4, 4, 1) and targets["y"].dtype.name == "int32"
    val_inputs, val_targets = prepared.validation_arrays
    assert val_inputs["x"].shape == (2, 4, 4, 1) and val_targets["y"].shape == (2,)


def test_image_folder_with_a_validation_folder(tmp_path):
    write_images(tmp_path / "train", {"a": 3, "b": 2})
    write_images(tmp_path / "check", {"a": 1, "b": 1})
    data = source("images", "train", {"x": "image", "y": "label"}, validation_path="check")
    graph = dense_graph(shape=(3, 3, 3), units=2, loss="categorical_crossentropy", flatten=True)
    prepared = load(data, graph, tmp_path, batch_size=2)
    assert (prepared.train_count, prepared.validation_count, prepared.steps_per_epoch) == (5, 2, 3)
    assert prepared.validation_arrays[1]["y"].tolist() == [[1, 0], [0, 1]]


def test_bundled_digits_validated_on_their_held_out_part(tmp_path):
    data = source("bundled", "digits", {"x": "images", "y": "labels"}, validation_path="digits_holdout")
    prepared = load(data, dense_graph(shape=(8, 8, 1), units=10, flatten=True), tmp_path, batch_size=64)
    assert (prepared.train_count, prepared.validation_count) == (1797 - 359, 359)
    assert prepared.class_names == {"y": [str(d) for d in range(10)]}
    with np.load(RESOURCES / "digits_holdout.npz") as held_out:
        assert np.array_equal(prepared.validation_arrays[1]["y"], held_out["labels"])


def test_bundled_wine_with_the_suggested_mapping(tmp_path):
    graph, analysis = dense_graph(shape=(13,))
    data = source("bundled", "wine", {}, validation_path="wine_holdout")
    mapping = suggest_mapping(data, tmp_path, graph, analysis)
    assert mapping["y"] == "label" and len(mapping["x"]) == 13 and "label" not in mapping["x"]
    prepared = load({**data, "mapping": mapping}, (graph, analysis), tmp_path)
    assert (prepared.train_count, prepared.validation_count) == (178 - 36, 36)
    assert prepared.class_names == {"y": ["0", "1", "2"]}


def test_validation_path_replaces_the_split(tmp_path):
    x, y = numbered()
    write_npz(tmp_path, features=x, labels=y)
    write_npz(tmp_path, "held_out.npz", features=x[:7], labels=y[:7])
    data = source("npz", "data.npz", {"x": "features", "y": "labels"}, validation_split=0.5,
                  validation_path=str(tmp_path / "held_out.npz"))
    prepared = load(data, dense_graph(), tmp_path)
    assert (prepared.train_count, prepared.validation_count) == (20, 7)


def test_split_is_deterministic_and_disjoint(tmp_path):
    x, y = numbered(50)
    write_npz(tmp_path, features=x, labels=y)
    data = source("npz", "data.npz", {"x": "features", "y": "labels"}, validation_split=0.2)

    def split(seed):
        prepared = load(data, dense_graph(), tmp_path, seed=seed)
        return set(feature_ids(prepared.train)), set(prepared.validation_arrays[0]["x"][:, 0].astype(int))

    train, validation = split(seed=1)
    assert len(validation) == 10 and train.isdisjoint(validation) and train | validation == set(range(50))
    assert split(seed=1) == (train, validation)
    assert split(seed=2)[1] != validation


def test_shuffle_is_seeded_and_changes_every_epoch(tmp_path):
    x, y = numbered(30)
    write_npz(tmp_path, features=x, labels=y)
    data = source("npz", "data.npz", {"x": "features", "y": "labels"}, validation_split=0.0)
    first = load(data, dense_graph(), tmp_path, seed=3).train
    epoch_1, epoch_2 = feature_ids(first), feature_ids(first)
    assert epoch_1 == feature_ids(load(data, dense_graph(), tmp_path, seed=3).train)
    assert sorted(epoch_1) == list(range(30)) and epoch_1 != list(range(30)) and epoch_2 != epoch_1
    in_order = load({**data, "shuffle": False}, dense_graph(), tmp_path).train
    assert feature_ids(in_order) == list(range(30))


# -- fields and suggestions ------------------------------------------------------------


def test_fields_of_each_source(tmp_path):
    write_npz(tmp_path, features=np.zeros((5, 2, 3), np.float32), names=np.array(["a"] * 5))
    write_csv(tmp_path, [["size", "kind"], [1.5, "x"], [2, "y"]])
    assert fields(source("npz", "data.npz", {}), tmp_path) == {"features": ((2, 3), "float32"),
                                                                 "names": ((), "string")}
    assert fields(source("csv", "data.csv", {}), tmp_path) == {"size": ((), "float32"),
                                                                 "kind": ((), "string")}
    (tmp_path / "pictures").mkdir()
    assert fields(source("images", "pictures", {}), tmp_path) == {
        "image": ((None, None, 3), "float32"), "label": ((), "int32")}
    assert fields(source("bundled", "digits", {}), tmp_path)["images"] == ((8, 8, 1), "float32")


def test_suggestions_by_name_shape_and_image_folder(tmp_path):
    graph, analysis = dense_graph(shape=(8, 8, 1), units=10, flatten=True)
    assert suggest_mapping(source("bundled", "digits", {}), tmp_path, graph, analysis) == {
        "x": "images", "y": "labels"}
    write_npz(tmp_path, x=np.zeros((3, 5)), targets=np.zeros((3, 2)))
    graph, analysis = dense_graph(shape=(5,), units=2, loss="mean_squared_error")
    assert suggest_mapping(source("npz", "data.npz", {}), tmp_path, graph, analysis) == {
        "x": "x", "y": "targets"}
    (tmp_path / "pictures").mkdir()
    graph, analysis = dense_graph(shape=(4, 4, 3), flatten=True)
    assert suggest_mapping(source("images", "pictures", {}), tmp_path, graph, analysis) == {
        "x": "image", "y": "label"}
    assert suggest_mapping(source("npz", "missing.npz", {}), tmp_path, graph, analysis) == {}


# -- problems ------------------------------------------------------------------------------

NPZ_MAPPING = {"x": "features", "y": "labels"}


def npz_case(arrays, mapping=NPZ_MAPPING, name="data.npz", **graph):
    def make(folder):
        write_npz(folder, name, **arrays)
        return source("npz", name, mapping), dense_graph(**graph)
    return make


def csv_case(rows, mapping, **graph):
    def make(folder):
        write_csv(folder, rows)
        return source("csv", "data.csv", mapping), dense_graph(**graph)
    return make


def images_case(per_class, mapping=None, **graph):
    def make(folder):
        if per_class is not None:
            write_images(folder / "photos", per_class)
        data = source("images", "photos", mapping or {"x": "image", "y": "label"})
        return data, dense_graph(**{"shape": (4, 4, 3), "flatten": True, **graph})
    return make


X, LABELS = np.zeros((6, 4)), np.array([0, 1, 2, 0, 1, 2])

PROBLEMS = {
    "unmapped input": (npz_case({"labels": LABELS}, {"y": "labels"}), ["Input 'x'", "no data"]),
    "unknown node": (npz_case({"features": X, "labels": LABELS}, {**NPZ_MAPPING, "ghost": "features"}),
                     ["'ghost'", "not an Input or Output", "Inputs: x"]),
    "unmapped output": (npz_case({"features": X}, {"x": "features"}), ["Output 'y'", SPARSE, "no data"]),
    "unknown array": (npz_case({"features": X, "labels": LABELS}, {"x": "pixels", "y": "labels"}),
                      ["Input 'x'", "'pixels'", "no array", "features, labels"]),
    "list for npz": (npz_case({"features": X, "labels": LABELS}, {"x": ["features"], "y": "labels"}),
                     ["Input 'x'", "lists are for CSV columns"]),
    "sample counts differ": (npz_case({"features": X, "labels": LABELS[:5]}),
                             ["'labels'", "5 samples", "'features'", "has 6"]),
    "input shape": (npz_case({"images": np.zeros((6, 64)), "labels": LABELS}, {"x": "images", "y": "labels"},
                             name="digits.npz", shape=(8, 8, 1), flatten=True),
                    ["Input 'x' expects samples of shape (8, 8, 1), but array 'images' in digits.npz has "
                     "(64,); reshape the data or change the Input's shape"]),
    "text for an input": (npz_case({"features": np.array(["a"] * 6), "labels": LABELS}),
                          ["'features'", "Input 'x'", "needs numbers"]),
    "fractions for an integer input": (npz_case({"features": X + 0.5, "labels": LABELS}, dtype="int32"),
                                       ["Input 'x'", "int32", "0.5"]),
    "nan in inputs": (npz_case({"features": np.where(np.eye(6, 4), np.nan, 1.0), "labels": LABELS}),
                      ["array 'features'", "4 NaN or infinite values"]),
    "label beyond the classes": (npz_case({"features": X, "labels": LABELS + 3}),
                                 ["Output 'y'", "3 classes", "labels up to 5", "6 units"]),
    "fractional class ids": (npz_case({"features": X, "labels": LABELS + 0.5}), ["0.5", "not a class id"]),
    "negative class ids": (npz_case({"features": X, "labels": LABELS - 1}), ["-1", "start at 0"]),
    "class ids for categorical": (npz_case({"features": X, "labels": LABELS},
                                           loss="categorical_crossentropy"),
                                  ["Output 'y'", "class ids", "use sparse_categorical_crossentropy"]),
    "binary targets out of range": (npz_case({"features": X, "labels": LABELS}, units=1,
                                             loss="binary_crossentropy"),
                                    ["Output 'y'", "from 0 to 1", "holds 2"]),
    "regression target shape": (npz_case({"features": X, "labels": np.zeros((6, 2))},
                                         loss="mean_squared_error"),
                                ["Output 'y'", "(3,)", "have (2,)"]),
    "not a number in csv": (csv_case([["a", "b", "label"], [1, 2, 0], [], [3, "oops", 1]],
                                     {"x": ["a", "b"], "y": "label"}, shape=(2,)),
                            ["data.csv", "column 'b'", "row 4", "'oops'", "Input 'x'"]),
    "text targets for regression": (csv_case([["a", "label"], [1, "big"]], {"x": "a", "y": "label"},
                                             shape=(1,), units=1, loss="mean_absolute_error"),
                                    ["column 'label'", "row 2", "'big'", "Output 'y'"]),
    "too many text classes": (csv_case([["a", "kind"], [1, "p"], [2, "q"], [3, "r"]], {"x": "a", "y": "kind"},
                                       shape=(1,), units=2),
                              ["Output 'y'", "2 classes", "3 distinct labels", "p, q, r"]),
    "empty csv": (csv_case([], {"x": "a", "y": "label"}), ["data.csv", "empty", "header row"]),
    "csv without rows": (csv_case([["a", "label"]], {"x": "a", "y": "label"}), ["data.csv", "no samples"]),
    "missing csv column": (csv_case([["a", "label"], [1, 0]], {"x": "b", "y": "label"}),
                           ["Input 'x'", "'b'", "no column", "a, label"]),
    "missing image folder": (images_case(None), ["image folder", "photos", "not found"]),
    "no class folders": (lambda folder: ((folder / "photos").mkdir(), images_case(None)(folder))[1],
                         ["no sub-folders"]),
    "no images": (lambda folder: ((folder / "photos" / "empty").mkdir(parents=True),
                                  images_case(None)(folder))[1], ["hold no images"]),
    "too few images to split": (images_case({"a": 1, "b": 1}), ["2 images", "validation split of 0.2"]),
    "more classes than units": (images_case({"a": 2, "b": 2, "c": 2}, units=2),
                                ["Output 'y'", "2 classes", "3 class sub-folders", "a, b, c"]),
    "image mapped to a non-image field": (images_case({"a": 1}, {"x": "pixels", "y": "label"}),
                                          ["Input 'x'", "'pixels'", "'image' for one Input"]),
    "image input without a fixed size": (images_case({"a": 1}, shape=(None, None, 3), flatten=False),
                                         ["Input 'x'", "(None, None, 3)", "fixed"]),
}


@pytest.mark.parametrize("make, words", PROBLEMS.values(), ids=PROBLEMS.keys())
def test_problems_name_the_place_and_the_fix(tmp_path, make, words):
    data, graph = make(tmp_path)
    with pytest.raises(DataError) as raised:
        load(data, graph, tmp_path)
    for word in words:
        assert word in str(raised.value)


def test_unknown_bundled_name_lists_the_known_ones(tmp_path):
    with pytest.raises(DataError, match="'mnist'.*digits, wine, or digits_holdout or wine_holdout"):
        load(source("bundled", "mnist", {"x": "images"}), dense_graph(), tmp_path)


def test_text_labels_unseen_in_training_are_refused(tmp_path):
    write_csv(tmp_path, [["a", "kind"], [1, "cat"], [2, "dog"]])
    write_csv(tmp_path, [["a", "kind"], [1, "cow"]], name="check.csv")
    data = source("csv", "data.csv", {"x": "a", "y": "kind"}, validation_path="check.csv")
    with pytest.raises(DataError, match="check.csv.*'cow'.*cat, dog"):
        load(data, dense_graph(shape=(1,), units=2), tmp_path)


def test_an_unknown_setting_names_the_nearest_ones_in_one_short_line():
    """Fifteen settings listed whole would make the message too long for one line."""
    from app.core.document.training_setup import SETTINGS, ConfigError, config_from_dict

    assert len(SETTINGS) > 8
    with pytest.raises(ConfigError) as caught:
        config_from_dict({"settings": {"learnin_rate": 0.1}})
    message = str(caught.value)
    assert message.startswith('training.settings.learnin_rate: unknown parameter (expected: "learning_rate"')
    assert f"({len(SETTINGS)} in all)" in message and len(message) < 120
