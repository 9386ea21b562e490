"""Inputs and Outputs: where data enters the composed model and where losses attach."""

from __future__ import annotations

from app.core.graph.graph import Graph
from app.core.graph.params import CHOICE, FLOAT, SHAPE, STRS, Param
from app.core.graph.specs import DTYPES, TensorSpec
from app.core.nodes.base import INPUT, MAX_DIM, MAX_RANK, MAX_SCALE, OUTPUT, Inferred, NodeType, lazy_keras

LOSSES = (
    "none", "sparse_categorical_crossentropy", "categorical_crossentropy",
    "binary_crossentropy", "mean_squared_error", "mean_absolute_error", "huber",
    "cosine_similarity", "kl_divergence", "mean_absolute_percentage_error",
    "mean_squared_logarithmic_error",
)
# The losses that make an Output a classifier: its predictions are class probabilities
CLASSIFIER_LOSSES = ("sparse_categorical_crossentropy", "categorical_crossentropy")
METRICS = (
    "accuracy", "sparse_categorical_accuracy", "categorical_accuracy", "binary_accuracy",
    "top_k_categorical_accuracy", "sparse_top_k_categorical_accuracy", "auc", "precision",
    "recall", "mean_absolute_error", "mean_squared_error", "root_mean_squared_error",
    "mean_absolute_percentage_error", "mean_squared_logarithmic_error",
)

# The other names Keras accepts for these (its short names and its class names), so that a
# project written by hand with "mse" loads. Each is read as the name above it stands for, the one
# name the rest of Graft (and the project file, once saved) uses. tests/core/test_keras_names.py
# checks that Keras resolves each to what its full name gives.
_SHORT = {"mse": "mean_squared_error", "mae": "mean_absolute_error",
          "mape": "mean_absolute_percentage_error", "msle": "mean_squared_logarithmic_error"}
_SHORT |= {name.upper(): full for name, full in _SHORT.items()}
LOSS_ALIASES = _SHORT | {
    "bce": "binary_crossentropy", "BCE": "binary_crossentropy",
    "kld": "kl_divergence", "KLD": "kl_divergence",
    "SparseCategoricalCrossentropy": "sparse_categorical_crossentropy",
    "CategoricalCrossentropy": "categorical_crossentropy", "BinaryCrossentropy": "binary_crossentropy",
    "MeanSquaredError": "mean_squared_error", "MeanAbsoluteError": "mean_absolute_error",
    "MeanAbsolutePercentageError": "mean_absolute_percentage_error",
    "MeanSquaredLogarithmicError": "mean_squared_logarithmic_error", "Huber": "huber",
    "CosineSimilarity": "cosine_similarity", "KLDivergence": "kl_divergence",
}
METRIC_ALIASES = _SHORT | {
    "acc": "accuracy",
    "SparseCategoricalAccuracy": "sparse_categorical_accuracy", "CategoricalAccuracy": "categorical_accuracy",
    "BinaryAccuracy": "binary_accuracy", "TopKCategoricalAccuracy": "top_k_categorical_accuracy",
    "SparseTopKCategoricalAccuracy": "sparse_top_k_categorical_accuracy", "AUC": "auc",
    "Precision": "precision", "Recall": "recall", "MeanAbsoluteError": "mean_absolute_error",
    "MeanSquaredError": "mean_squared_error", "RootMeanSquaredError": "root_mean_squared_error",
    "MeanAbsolutePercentageError": "mean_absolute_percentage_error",
    "MeanSquaredLogarithmicError": "mean_squared_logarithmic_error",
}


class Input(NodeType):
    name = title = "Input"
    category = INPUT
    help = "A model input. Its name becomes the Keras input name; several Inputs are allowed."
    params = (
        Param("shape", SHAPE, [224, 224, 3],
              "Shape of one sample (without the batch axis); null for a size that varies.",
              minimum=1, maximum=MAX_RANK, item_minimum=1, item_maximum=MAX_DIM),
        Param("dtype", CHOICE, "float32", "Element type.", choices=DTYPES),
    )

    def input_ports(self, node, connected, ctx):
        return []

    def infer(self, node, inputs, ctx):
        return Inferred({"out": TensorSpec((None, *node.params["shape"]), node.params["dtype"])})

    def build(self, node, inputs, ctx):
        p = node.params
        return {"out": lazy_keras().Input(shape=tuple(p["shape"]), dtype=p["dtype"], name=node.name)}


class Output(NodeType):
    name = title = "Output"
    category = OUTPUT
    help = ("A model output, named after the node. Carries the loss, loss weight and metrics "
            "used for training; several Outputs make a multi-output model.")
    params = (
        Param("loss", CHOICE, "none", "Loss for this output (none: not trained on). Keras's other "
              "names for these are read as the name they stand for: mse, mae, mape, msle, bce, kld "
              "and the class names (MeanSquaredError, …).", choices=LOSSES, aliases=LOSS_ALIASES),
        Param("loss_weight", FLOAT, 1.0, "Weight of this output's loss in the total.",
              minimum=0.0, maximum=MAX_SCALE),
        Param("metrics", STRS, [], "Metrics reported for this output. Keras's other names for these "
              "are read as the name they stand for: acc, mse, mae, mape, msle and the class names "
              "(AUC, …).", choices=METRICS, aliases=METRIC_ALIASES),
    )

    def output_ports(self, node, ctx):
        return []

    def infer(self, node, inputs, ctx):
        return Inferred({})

    def build(self, node, inputs, ctx):
        # An Identity layer named after the Output gives the Keras model that output name;
        # its dtype is the tensor's so that Keras does not cast the output, except under mixed
        # precision, where it casts float16 to float32: predictions and losses are float32.
        keras, tensor = lazy_keras(), inputs["in"]
        policy, dtype = keras.config.dtype_policy(), tensor.dtype
        if dtype == policy.compute_dtype != policy.variable_dtype:
            dtype = policy.variable_dtype
        return {"out": keras.layers.Identity(name=node.name, dtype=dtype)(tensor)}


IO = (Input, Output)


def fed_inputs(graph: Graph) -> set[str]:
    """Ids of the Inputs that some Output depends on. The compiled model takes only these, so
    only these need data: an Input that reaches no Output is a warning, not an error."""
    reached = graph.upstream(n.id for n in graph.nodes if n.type == "Output")
    return {n.id for n in graph.nodes if n.type == "Input" and n.id in reached}
