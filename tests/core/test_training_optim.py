"""Per-node learning-rate multipliers must really change the step size under `model.fit`,
also with Adam (which ignores gradient scale), XLA and mixed precision."""

import math

import keras
import numpy as np
import pytest
import tensorflow as tf

from app.core.training.optim import GroupedOptimizer, current_learning_rate, learning_rate, make_optimizer

RNG = np.random.default_rng(1)
X = RNG.normal(size=(32, 4)).astype("float32")
Y = RNG.normal(size=(32, 2)).astype("float32")
BATCH, EPOCHS = 8, 3


def tiny_model():
    """Input(4) → Dense A(3) → Dense B(2) with fixed initial weights."""
    inputs = keras.Input((4,))
    a, b = keras.layers.Dense(3, activation="tanh", name="A"), keras.layers.Dense(2, name="B")
    model = keras.Model(inputs, b(a(inputs)))
    rng = np.random.default_rng(0)
    model.set_weights([rng.normal(size=w.shape).astype("float32") for w in model.get_weights()])
    return model, a, b


def fit(model, optimizer, epochs=EPOCHS, jit_compile=False, **kwargs):
    model.compile(optimizer, "mse", jit_compile=jit_compile)
    model.fit(X, Y, batch_size=BATCH, epochs=epochs, shuffle=False, verbose=0, **kwargs)
    return model.get_weights()


def manual(steps):
    """Train a fresh tiny model on fit's batches; `steps(grads_a, grads_b, a, b)` applies each step."""
    model, a, b = tiny_model()
    for _ in range(EPOCHS):
        for start in range(0, len(X), BATCH):
            with tf.GradientTape() as tape:
                loss = tf.reduce_mean(keras.losses.mean_squared_error(Y[start:start + BATCH],
                                                                     model(X[start:start + BATCH])))
            grads = tape.gradient(loss, a.trainable_variables + b.trainable_variables)
            steps(grads[:2], grads[2:], a, b)
    return model.get_weights()


def allclose(first, second, atol=1e-6):
    return all(np.allclose(f, s, atol=atol) for f, s in zip(first, second))


def farthest(first, second):
    return max(float(np.abs(f - s).max()) for f, s in zip(first, second))


@pytest.mark.parametrize("jit_compile", [False, True])
def test_a_multiplier_is_a_real_rate_with_adam(jit_compile):
    model, a, _ = tiny_model()
    optimizer = make_optimizer("adam", 0.01, [(0.1, a.trainable_variables)])
    assert isinstance(optimizer, GroupedOptimizer)
    grouped = fit(model, optimizer, jit_compile=jit_compile)

    slow, fast = keras.optimizers.Adam(0.001), keras.optimizers.Adam(0.01)
    two_adams = manual(lambda ga, gb, a, b: (slow.apply(ga, a.trainable_variables),
                                             fast.apply(gb, b.trainable_variables)))
    assert allclose(grouped, two_adams)
    assert int(optimizer.iterations) == EPOCHS * len(X) // BATCH

    if not jit_compile:
        single = keras.optimizers.Adam(0.01)
        ungrouped = manual(lambda ga, gb, a, b: single.apply(ga + gb, a.trainable_variables
                                                             + b.trainable_variables))
        scaled_adam = keras.optimizers.Adam(0.01)
        scaled = manual(lambda ga, gb, a, b: scaled_adam.apply([g * 0.1 for g in ga] + gb,
                                                               a.trainable_variables + b.trainable_variables))
        assert farthest(grouped[:2], ungrouped[:2]) > 1e-2
        assert farthest(scaled, ungrouped) < 1e-4  # why scaling gradients is no multiplier for Adam


def test_each_group_has_its_own_state():
    model, a, b = tiny_model()
    optimizer = make_optimizer("adam", 0.01, [(0.1, a.trainable_variables)])
    fit(model, optimizer, epochs=1)
    inner = optimizer.optimizers
    assert sorted(inner) == [0.1, 1]

    def moment_shapes(opt):
        return sorted(tuple(v.shape) for v in opt.variables if v.shape != ())

    assert moment_shapes(inner[0.1]) == sorted(2 * [tuple(v.shape) for v in a.trainable_variables])
    assert moment_shapes(inner[1]) == sorted(2 * [tuple(v.shape) for v in b.trainable_variables])
    assert not {id(v) for v in inner[0.1].variables} & {id(v) for v in inner[1].variables}
    assert all(np.any(v.numpy() != 0) for opt in inner.values() for v in opt.variables if v.shape != ())
    assert {id(v) for v in optimizer.variables} >= {id(v) for opt in inner.values() for v in opt.variables}


def test_a_multiplier_scales_a_schedule_and_follows_the_base_rate():
    model, a, _ = tiny_model()
    steps = len(X) // BATCH
    optimizer = make_optimizer("sgd", learning_rate("cosine", 0.1, steps, 2), [(0.5, a.trainable_variables)])
    seen = []
    plot = keras.callbacks.LambdaCallback(on_train_batch_end=lambda *_, **__: seen.append(
        (current_learning_rate(optimizer), float(optimizer.optimizers[0.5].learning_rate))))
    assert current_learning_rate(optimizer) == pytest.approx(0.1)
    fit(model, optimizer, epochs=2, callbacks=[plot])
    expected = [0.05 * (1 + math.cos(math.pi * step / (2 * steps))) for step in range(1, 2 * steps + 1)]
    assert [base for base, _ in seen] == pytest.approx(expected, abs=1e-6)
    assert [group for _, group in seen] == pytest.approx([0.5 * e for e in expected], abs=1e-6)

    constant = make_optimizer("adam", 0.01, [(0.1, a.trainable_variables)])
    model.compile(constant, "mse")
    model.fit(X[:BATCH], Y[:BATCH], verbose=0)
    constant.learning_rate = 0.02  # e.g. a callback lowering the rate: every group follows
    assert float(constant.optimizers[0.1].learning_rate) == pytest.approx(0.002)


def test_learning_rate_schedules():
    assert learning_rate("constant", 1, 10, 3) == 1.0
    exponential = learning_rate("exponential", 0.1, 10, 3)
    assert float(exponential(10)) == pytest.approx(0.09)
    cosine = learning_rate("cosine", 0.1, 10, 3)
    assert float(cosine(0)) == pytest.approx(0.1) and float(cosine(30)) == pytest.approx(0.0, abs=1e-9)
    with pytest.raises(ValueError, match="schedule"):
        learning_rate("linear", 0.1, 10, 3)


def test_frozen_and_untrainable_variables_are_left_alone():
    model, a, b = tiny_model()
    a.trainable = False
    before = model.get_weights()
    optimizer = make_optimizer("adam", 0.01, [(0.1, a.weights), (2.0, b.trainable_variables)])
    after = fit(model, optimizer, epochs=1)
    assert allclose(after[:2], before[:2], atol=0) and not allclose(after[2:], before[2:])
    assert sorted(optimizer.optimizers) == [2.0]


def test_bad_groups_and_names_are_refused():
    _, a, _ = tiny_model()
    with pytest.raises(ValueError, match="different multipliers"):
        make_optimizer("adam", 0.01, [(0.1, a.trainable_variables), (0.2, a.trainable_variables[:1])])
    with pytest.raises(ValueError, match="> 0"):
        make_optimizer("adam", 0.01, [(0.0, a.trainable_variables)])
    with pytest.raises(ValueError, match="unknown optimizer"):
        make_optimizer("adagrad", 0.01, [(0.1, a.trainable_variables)])


@pytest.mark.parametrize("name", ["adam", "adamw", "sgd", "rmsprop"])
def test_every_optimizer_builds_and_trains(name):
    plain = make_optimizer(name, 0.01, [(1, [])])
    assert not isinstance(plain, GroupedOptimizer)
    assert name != "sgd" or plain.momentum == 0.9
    model, a, _ = tiny_model()
    before = model.get_weights()
    optimizer = make_optimizer(name, 0.01, [(0.1, a.trainable_variables)])
    model.compile(optimizer, "mse")
    model.fit(X[:BATCH], Y[:BATCH], verbose=0)
    assert all(not np.allclose(w, v) for w, v in zip(model.get_weights(), before))


def test_mixed_precision_wraps_it_in_loss_scaling():
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy("mixed_float16")
    try:
        model, a, _ = tiny_model()
        before = model.get_weights()
        optimizer = make_optimizer("adam", 0.01, [(0.1, a.trainable_variables)])
        weights = fit(model, optimizer, epochs=1)
        assert isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer)
        assert model.optimizer.inner_optimizer is optimizer
    finally:
        keras.config.set_dtype_policy(previous)
    assert all(np.isfinite(w).all() and not np.allclose(w, v) for w, v in zip(weights, before))
    assert 1 <= int(model.optimizer.iterations) <= len(X) // BATCH  # steps with float16 overflow are skipped
    assert current_learning_rate(model.optimizer) == pytest.approx(0.01)


def test_weights_save_and_load_after_grouped_training(tmp_path):
    model, a, _ = tiny_model()
    trained = fit(model, make_optimizer("rmsprop", 0.01, [(0.1, a.trainable_variables)]), epochs=1)
    model.save_weights(tmp_path / "trained.weights.h5")
    fresh, _, _ = tiny_model()
    fresh.load_weights(tmp_path / "trained.weights.h5")
    assert allclose(fresh.get_weights(), trained, atol=0)
