"""Data checks before training (issue 17): every mapped field against its Input and its Output,
the plausibility warnings, all problems at once, naming the node, the field and the fix; and
Suggest, which maps a node only to a field that passes them."""

import numpy as np
import pytest

from app.core.analysis.validate import ERROR, WARNING, analyze
from app.core.document.training_setup import DATA
from app.core.editing.builder import GraphBuilder
from app.core.graph.params import check_params
from app.core.training import sources
from app.core.training.data import prepare, suggest_mapping
from app.core.training.data_checks import (
    CONSTANT_CODE,
    DATA_ERROR,
    FEW_CLASSES_CODE,
    ONE_CLASS_CODE,
    check_data,
)
from app.core.training.sources import DataError

SPARSE, CATEGORICAL = "sparse_categorical_crossentropy", "categorical_crossentropy"
BINARY = "binary_crossentropy"
N = 60
RNG = np.random.default_rng(0)
FEATURES = RNG.random((N, 4))
DIGITS = np.arange(N) % 10  # every one of ten classes, six times


def graph(units=10, loss=SPARSE, shape=(4,), dtype="float32"):
    """Input 'pixels' → (Flatten, for images) → Dense → Output 'digit'."""
    b = GraphBuilder()
    b.add("pixels", "Input", shape=list(shape), dtype=dtype)
    if len(shape) > 1:
        b.add("flat", "Flatten")
    b.add("dense", "Dense", units=units)
    b.add("digit", "Output", loss=loss)
    b.chain("pixels", *(["flat"] if len(shape) > 1 else []), "dense", "digit")
    return b.graph, analyze(b.graph)


def npz_data(folder, mapping, **arrays):
    np.savez(folder / "data.npz", **arrays)
    return check_params(DATA, {"source": "npz", "path": "data.npz", "mapping": mapping})


def problems(folder, mapping=None, units=10, loss=SPARSE, shape=(4,), dtype="float32", **arrays):
    g, analysis = graph(units, loss, shape, dtype)
    data = npz_data(folder, mapping or {"pixels": "x", "digit": "y"}, **arrays)
    return check_data(data, g, analysis, folder), g


def only(found, severity):
    assert [p.severity for p in found] == [severity], [str(p) for p in found]
    return found[0]


def node_id(g, name):
    return g.node_by_name(name).id


# -- Suggest -------------------------------------------------------------------------------


def test_suggest_maps_the_labels_that_fit_the_classes_not_the_one_left_over(tmp_path):
    """The finding: a 10-class sparse Output was mapped to a 0/1 array. 0 and 1 are valid class
    ids, but they cover two of ten classes; the 0..9 field (floats here) is the one that fits."""
    g, analysis = graph()
    data = npz_data(tmp_path, {}, features=FEATURES, a=np.arange(N) % 2, b=DIGITS.astype(np.float64))
    assert suggest_mapping(data, tmp_path, g, analysis) == {"pixels": "features", "digit": "b"}


def test_suggest_never_maps_a_field_that_fails_the_checks(tmp_path):
    g, analysis = graph()
    # named like the Output, but holding labels beyond its ten classes; the only other one is 0/1
    data = npz_data(tmp_path, {}, features=FEATURES, digit=DIGITS + 5, a=np.arange(N) % 2)
    assert suggest_mapping(data, tmp_path, g, analysis) == {"pixels": "features"}
    # two fields that pass: no way to tell, so neither
    data = npz_data(tmp_path, {}, features=FEATURES, b=DIGITS, c=DIGITS[::-1].copy())
    assert suggest_mapping(data, tmp_path, g, analysis) == {"pixels": "features"}
    # the labels must have as many samples as the features
    data = npz_data(tmp_path, {}, features=FEATURES, b=DIGITS[:50])
    assert suggest_mapping(data, tmp_path, g, analysis) == {"pixels": "features"}


def test_suggest_leaves_a_constant_input_out(tmp_path):
    g, analysis = graph()
    data = npz_data(tmp_path, {}, zeros=np.zeros((N, 4)), features=FEATURES, b=DIGITS)
    assert suggest_mapping(data, tmp_path, g, analysis) == {"pixels": "features", "digit": "b"}


# -- errors: each mapped field against its Input and its Output ------------------------------


def test_nothing_mapped_means_nothing_to_check(tmp_path):
    found, _ = problems(tmp_path, mapping={}, x=FEATURES, y=DIGITS)
    assert found == []


def test_a_good_mapping_has_no_problems(tmp_path):
    found, _ = problems(tmp_path, x=FEATURES, y=DIGITS)
    assert found == []


def test_an_input_of_another_shape(tmp_path):
    found, g = problems(tmp_path, shape=(8,), x=FEATURES, y=DIGITS)
    problem = only(found, ERROR)
    assert problem.code == DATA_ERROR and problem.node_id == node_id(g, "pixels")
    assert ("Input 'pixels' expects samples of shape (8,), but array 'x' in data.npz has (4,); reshape the "
            "data or change the Input's shape") in problem.message


def test_an_input_dtype_that_cannot_hold_the_values(tmp_path):
    found, g = problems(tmp_path, dtype="int32", x=FEATURES, y=DIGITS)
    problem = only(found, ERROR)
    assert problem.node_id == node_id(g, "pixels")
    assert "Input 'pixels' takes int32 values, but array 'x' in data.npz holds" in problem.message
    assert "make the Input float32" in problem.message


def test_sparse_labels_beyond_the_outputs_classes(tmp_path):
    found, g = problems(tmp_path, x=FEATURES, y=DIGITS + 3)
    problem = only(found, ERROR)
    assert problem.node_id == node_id(g, "digit")
    assert ("Output 'digit' has 10 classes (it receives (None, 10)), but array 'y' in data.npz holds labels "
            "up to 12; labels must be 0 to 9") in problem.message


def test_sparse_labels_that_are_not_whole_numbers(tmp_path):
    found, _ = problems(tmp_path, x=FEATURES, y=DIGITS + 0.5)
    assert "array 'y' in data.npz holds 0.5, not a class id" in only(found, ERROR).message


def test_categorical_targets_must_be_one_hot_rows_of_the_outputs_width(tmp_path):
    one_hot = np.eye(10)[DIGITS]
    assert problems(tmp_path, loss=CATEGORICAL, x=FEATURES, y=one_hot)[0] == []
    found, _ = problems(tmp_path, loss=CATEGORICAL, x=FEATURES, y=one_hot * 0.5)
    assert ("array 'y' in data.npz holds a row that sums to 0.5 at sample 0 (60 such rows), but Output "
            "'digit' uses categorical_crossentropy, which wants one-hot rows") in only(found, ERROR).message
    found, _ = problems(tmp_path, loss=CATEGORICAL, x=FEATURES, y=np.eye(8)[DIGITS % 8])
    assert "receives samples of shape (10,), but its targets, array 'y' in data.npz, have (8,)" in \
        only(found, ERROR).message


def test_binary_targets_must_lie_between_0_and_1(tmp_path):
    found, _ = problems(tmp_path, units=1, loss=BINARY, x=FEATURES, y=(np.arange(N) % 3).astype(float))
    assert "Output 'digit' uses binary_crossentropy, which wants values from 0 to 1, but array 'y' in " \
           "data.npz holds 2.0" in only(found, ERROR).message


def test_regression_targets_must_have_the_outputs_shape(tmp_path):
    found, _ = problems(tmp_path, units=3, loss="mean_squared_error", x=FEATURES, y=RNG.random((N, 2)))
    assert ("Output 'digit' receives samples of shape (3,), but its targets, array 'y' in data.npz, have "
            "(2,)") in only(found, ERROR).message


def test_every_field_that_does_not_fit_is_listed_not_just_the_first(tmp_path):
    found, g = problems(tmp_path, shape=(8,), x=FEATURES, y=DIGITS + 3)
    assert [(p.severity, p.node_id) for p in found] == [(ERROR, node_id(g, "pixels")),
                                                        (ERROR, node_id(g, "digit"))]
    data = npz_data(tmp_path, {"pixels": "x", "digit": "y"}, x=FEATURES, y=DIGITS + 3)
    with pytest.raises(DataError) as refused:  # the run stops on all of them at once
        prepare(data, *graph(shape=(8,)), tmp_path, batch_size=4, seed=0, losses={"digit": SPARSE})
    assert "2 mapped fields do not fit the graph" in str(refused.value)
    assert "Input 'pixels' expects" in str(refused.value) and "labels up to 12" in str(refused.value)


def test_a_source_that_cannot_be_read_is_one_error(tmp_path):
    g, analysis = graph()
    data = check_params(DATA, {"source": "npz", "path": "gone.npz", "mapping": {"pixels": "x"}})
    problem = only(check_data(data, g, analysis, tmp_path), ERROR)
    assert "data file" in problem.message and "gone.npz not found" in problem.message


def test_the_validation_file_is_checked_too(tmp_path):
    g, analysis = graph()
    np.savez(tmp_path / "held_out.npz", x=FEATURES[:10], y=DIGITS[:10] + 5)
    data = npz_data(tmp_path, {"pixels": "x", "digit": "y"}, x=FEATURES, y=DIGITS)
    data = {**data, "validation_path": "held_out.npz"}
    problem = only(check_data(data, g, analysis, tmp_path), ERROR)
    assert "held_out.npz holds labels up to 14" in problem.message


# -- warnings: what fits but is probably not meant -------------------------------------------


def test_labels_that_cover_fewer_than_half_of_the_classes(tmp_path):
    found, g = problems(tmp_path, x=FEATURES, y=np.arange(N) % 2)
    problem = only(found, WARNING)
    assert problem.code == FEW_CLASSES_CODE and problem.node_id == node_id(g, "digit")
    assert ("Output 'digit' has 10 classes, but its labels, array 'y' in data.npz, hold only 2 of them "
            "(0, 1); map the field that holds this Output's labels") in problem.message
    assert problems(tmp_path, x=FEATURES, y=np.arange(N) % 5)[0] == []  # half is enough


def test_one_class_holding_almost_every_sample(tmp_path):
    labels = np.where(np.arange(N) < 55, 3, DIGITS)  # 55 threes and five others: 92 %
    found, g = problems(tmp_path, x=FEATURES, y=labels)
    problem = only(found, WARNING)
    assert problem.code == ONE_CLASS_CODE and problem.node_id == node_id(g, "digit")
    assert "array 'y' in data.npz puts 92% of the samples (55 of 60) in class 3" in problem.message
    assert "add samples of the other classes" in problem.message
    binary = (np.arange(N) < 57).astype(float)  # 95 % ones
    found, _ = problems(tmp_path, units=1, loss=BINARY, x=FEATURES, y=binary)
    assert "puts 95% of the samples (57 of 60) in class 1" in only(found, WARNING).message


def test_an_input_whose_samples_are_all_the_same(tmp_path):
    found, g = problems(tmp_path, x=np.zeros((N, 4)), y=DIGITS)
    problem = only(found, WARNING)
    assert problem.code == CONSTANT_CODE and problem.node_id == node_id(g, "pixels")
    assert "every sample of array 'x' in data.npz is the same (0.0 everywhere)" in problem.message


def test_warnings_come_after_errors_and_do_not_hide_them(tmp_path):
    found, _ = problems(tmp_path, x=np.zeros((N, 4)), y=DIGITS + 3)
    assert [p.severity for p in found] == [ERROR, WARNING]


def test_an_image_folders_classes_are_checked_without_reading_an_image(tmp_path):
    for name, count in {"cats": 19, "dogs": 1}.items():
        (tmp_path / "photos" / name).mkdir(parents=True)
        for i in range(count):
            (tmp_path / "photos" / name / f"{i}.png").write_bytes(b"not read")
    g, analysis = graph(units=2, shape=(4, 4, 3))
    data = check_params(DATA, {"source": "images", "path": "photos", "mapping": {"pixels": "image",
                                                                              "digit": "label"}})
    assert "puts 95% of the samples (19 of 20) in class cats" in only(check_data(data, g, analysis, tmp_path),
                                                                       WARNING).message
    g, analysis = graph(units=1, shape=(4, 4, 3))
    problem = only(check_data(data, g, analysis, tmp_path), ERROR)
    assert "Output 'digit' has 1 classes" in problem.message and problem.node_id == node_id(g, "digit")


# -- cheap: read once, a bounded sample of each Input ----------------------------------------


def test_a_file_is_read_once_while_it_is_unchanged(tmp_path, monkeypatch):
    reads = []
    read = sources._read_npz
    monkeypatch.setattr(sources, "_read_npz",
                        lambda path, names: reads.append(set(names)) or read(path, names))
    g, analysis = graph()
    data = npz_data(tmp_path, {"pixels": "x", "digit": "y"}, x=FEATURES, y=DIGITS)
    for _ in range(3):
        assert check_data(data, g, analysis, tmp_path) == []
    assert reads == [{"x", "y"}]
    npz_data(tmp_path, {}, x=FEATURES, y=DIGITS + 3)  # written again: read again
    assert "labels up to 12" in only(check_data(data, g, analysis, tmp_path), ERROR).message
    assert len(reads) == 2


def test_inputs_are_checked_on_a_bounded_sample_and_labels_whole(tmp_path):
    count = 10_000
    features = RNG.random((count, 4))
    features[1] = np.nan  # between the samples looked at
    labels = np.arange(count) % 10
    labels[1] = 12
    g, analysis = graph()
    data = npz_data(tmp_path, {"pixels": "x", "digit": "y"}, x=features, y=labels)
    found = check_data(data, g, analysis, tmp_path, input_samples=100)
    assert "labels up to 12" in only(found, ERROR).message
    found = check_data(data, g, analysis, tmp_path, input_samples=None)
    assert "array 'x' in data.npz, sample 1 holds nan" in found[0].message
