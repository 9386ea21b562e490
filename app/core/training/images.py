"""Training data from a folder of images with one sub-folder per class, through Keras's
`image_dataset_from_directory`: which Input and Output it feeds, and checks of the classes
against the Output the labels go to."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from app.core.graph.specs import format_shape, shapes_compatible
from app.core.nodes.io import CLASSIFIER_LOSSES
from app.core.training.sources import IMAGE_SUFFIXES, DataError, PreparedData, Role, preview

COLOR_MODES = {1: "grayscale", 3: "rgb", 4: "rgba"}


def prepare_images(path, validation_path, data, inputs, targets, batch_size, seed) -> PreparedData:
    import tensorflow as tf

    image_role, label_role, size, color_mode, label_mode = image_roles(inputs, targets)
    load = dict(image_size=size, color_mode=color_mode, label_mode=label_mode, batch_size=batch_size,
                seed=seed, verbose=False)
    split = data["validation_split"]
    if validation_path is not None:
        train = _image_folder(path, load, shuffle=data["shuffle"])
        validation = _image_folder(validation_path, load, shuffle=False)
        if validation.class_names != train.class_names:
            raise DataError(f"the validation folder {validation_path} has the classes "
                            f"{', '.join(validation.class_names)}, but the training folder has "
                            f"{', '.join(train.class_names)}; give both the same class sub-folders")
    elif split > 0:
        # Keras splits off the tail of its file order, which is sorted by class unless shuffled;
        # so a split always shuffles, and Keras then reshuffles the training images every epoch.
        train, validation = _image_folder(path, load, shuffle=True, validation_split=split, subset="both")
    else:
        train, validation = _image_folder(path, load, shuffle=data["shuffle"]), None
    class_names = {}
    if label_role is not None:  # Keras names the classes only when it loads labels
        check_image_classes(label_role, train.class_names, path)
        if label_role.loss in CLASSIFIER_LOSSES:
            class_names[label_role.node] = list(train.class_names)
    train_count = len(train.file_paths)
    validation_count = len(validation.file_paths) if validation is not None else 0
    as_dicts = _image_dicts(image_role, label_role)
    train = train.map(as_dicts).prefetch(tf.data.AUTOTUNE)
    if validation is not None:
        validation = validation.map(as_dicts).prefetch(tf.data.AUTOTUNE)
    return PreparedData(
        train=train,
        validation=validation,
        train_count=train_count,
        validation_count=validation_count,
        steps_per_epoch=math.ceil(train_count / batch_size),
        class_names=class_names,
        validation_arrays=materialise(validation) if validation is not None else None,
    )


def image_roles(inputs: list[Role], targets: list[Role]):
    """The Input fed by the images and the Output fed by the labels, and how Keras must load them."""
    offered = "an image folder offers 'image' for one Input and 'label' for one Output"
    for role in inputs:
        if role.field != "image":
            raise DataError(f"{role.title} is mapped to {role.field!r}, but {offered}")
    if len(inputs) != 1:
        raise DataError(f"the graph has {len(inputs)} Inputs, but {offered}; an image folder feeds one Input")
    for role in targets:
        if role.field != "label":
            raise DataError(f"{role.title} is mapped to {role.field!r}, but {offered}")
    if len(targets) > 1:
        raise DataError(f"{', '.join(r.title for r in targets)} all carry a loss, but {offered}")
    image_role, label_role = inputs[0], (targets[0] if targets else None)
    shape = image_role.spec.features
    if len(shape) != 3 or None in shape or shape[2] not in COLOR_MODES:
        raise DataError(f"{image_role.title} has samples of shape {format_shape(shape)}, but images need a "
                        "fixed (height, width, channels) with 1, 3 or 4 channels; set the Input's shape, "
                        "e.g. [224, 224, 3]")
    label_mode = None
    if label_role is not None:
        label_mode = {"sparse_categorical_crossentropy": "int", "categorical_crossentropy": "categorical",
                      "binary_crossentropy": "binary"}.get(label_role.loss)
        if label_mode is None:
            raise DataError(f"{label_role.title} uses {label_role.loss}, but an image folder's labels are "
                            "classes; use sparse_categorical_crossentropy (or categorical_crossentropy, or "
                            "binary_crossentropy for two classes)")
    return image_role, label_role, shape[:2], COLOR_MODES[shape[2]], label_mode


def check_image_classes(role: Role, class_names: list[str], path: Path) -> None:
    """The class sub-folders must fit the tensor the Output receives."""
    out, found, shown, receives = role.spec.features, len(class_names), preview(class_names), role.spec.shape
    wanted = {"binary_crossentropy": (1,), "categorical_crossentropy": (found,)}.get(role.loss)
    if wanted is None:  # sparse: at most as many classes as the output has scores
        if len(out) != 1:
            raise DataError(f"{role.title} receives {format_shape(receives)}, but an image folder gives one "
                            "class per image; a classifier for it needs a tensor of shape (None, classes)")
        if out[0] is not None and found > out[0]:
            raise DataError(f"{role.title} has {out[0]} classes (it receives {format_shape(receives)}), but "
                            f"{path} has {found} class sub-folders ({shown}); give the layer before "
                            f"{role.title} {found} units")
    elif role.loss == "binary_crossentropy" and found != 2:
        raise DataError(f"{role.title} uses binary_crossentropy, which needs exactly 2 class sub-folders, "
                        f"but {path} has {found} ({shown}); use sparse_categorical_crossentropy for more "
                        "classes")
    elif not shapes_compatible(out, wanted):
        raise DataError(f"{role.title} receives {format_shape(receives)}, but {path} has {found} class "
                        f"sub-folders ({shown}); give the layer before {role.title} {wanted[0]} units")


def _image_folder(folder: Path, load: dict, *, shuffle: bool, **split):
    """Keras's image dataset for a folder with one sub-folder of images per class."""
    import keras

    classes = sorted(p for p in folder.iterdir() if p.is_dir())
    if not classes:
        raise DataError(f"{folder} has no sub-folders; put the images of each class in a sub-folder "
                        "named after the class")
    count = sum(f.suffix.lower() in IMAGE_SUFFIXES for c in classes for f in c.rglob("*"))
    if not count:
        raise DataError(f"the class sub-folders of {folder} hold no images; add "
                        f"{', '.join(IMAGE_SUFFIXES)} files")
    fraction = split.get("validation_split", 0)
    if fraction and int(count * fraction) == 0:  # Keras holds out int(count * fraction) images
        raise DataError(f"{folder} has {count} images, too few for a validation split of {fraction}; "
                        "add images, raise the split, or set it to 0")
    try:
        return keras.utils.image_dataset_from_directory(folder, shuffle=shuffle, **load, **split)
    except ValueError as error:
        raise DataError(f"cannot read the images in {folder}: {error}") from None


def _image_dicts(image_role: Role, label_role: Role | None):
    """Keras yields (images, labels) tuples; the model takes dicts by node name."""
    import tensorflow as tf

    dtype = image_role.spec.dtype
    if label_role is None:
        return lambda images: ({image_role.node: tf.cast(images, dtype)}, {})
    return lambda images, labels: ({image_role.node: tf.cast(images, dtype)}, {label_role.node: labels})


def materialise(dataset) -> tuple[dict, dict]:
    """The whole validation set as numpy, for evaluation and previews."""
    batches = list(dataset.as_numpy_iterator())
    return tuple({name: np.concatenate([batch[part][name] for batch in batches]) for name in batches[0][part]}
                 for part in (0, 1))
