"""The Keras Applications table: each architecture Graft offers, the input sizes it takes,
how to build it, and how its imagenet weights reach Keras's download cache."""

from __future__ import annotations

from dataclasses import dataclass

from app.core.cards.loading import ModelLoadError


@dataclass(frozen=True)
class Application:
    """One `keras.applications` architecture and the input sizes it accepts."""

    name: str
    module: str  # keras.applications submodule holding preprocess_input
    default_size: int
    min_size: int = 32


APPLICATIONS: dict[str, Application] = {
    app.name: app
    for app in [
        *(Application(f"ConvNeXt{v}", "convnext", 224) for v in
          ("Tiny", "Small", "Base", "Large", "XLarge")),
        *(Application(f"DenseNet{v}", "densenet", 224) for v in (121, 169, 201)),
        *(Application(f"EfficientNetB{i}", "efficientnet", size) for i, size in
          enumerate((224, 240, 260, 300, 380, 456, 528, 600))),
        *(Application(f"EfficientNetV2{v}", "efficientnet_v2", size) for v, size in
          (("B0", 224), ("B1", 240), ("B2", 260), ("B3", 300), ("S", 384), ("M", 480),
           ("L", 480))),
        Application("InceptionResNetV2", "inception_resnet_v2", 299, 75),
        Application("InceptionV3", "inception_v3", 299, 75),
        Application("MobileNet", "mobilenet", 224),
        Application("MobileNetV2", "mobilenet_v2", 224),
        Application("MobileNetV3Small", "mobilenet_v3", 224),
        Application("MobileNetV3Large", "mobilenet_v3", 224),
        Application("NASNetMobile", "nasnet", 224),
        Application("NASNetLarge", "nasnet", 331),
        *(Application(f"ResNet{v}", "resnet", 224) for v in (50, 101, 152)),
        *(Application(f"ResNet{v}V2", "resnet_v2", 224) for v in (50, 101, 152)),
        Application("VGG16", "vgg16", 224),
        Application("VGG19", "vgg19", 224),
        Application("Xception", "xception", 299, 71),
    ]
}


def fetch_imagenet_weights(architecture: str, settings: dict, progress=None) -> None:
    """Put an architecture's imagenet weights in Keras's download cache (~/.keras/models), the
    one Keras itself reads, reporting `progress(received_bytes, total_bytes)` while it
    downloads; raises ModelLoadError with the offline message when it cannot."""
    from keras.src.utils import file_utils

    download = file_utils.urlretrieve

    def reporting(url, target, reporthook=None):
        def hook(blocks, block_size, total):
            if reporthook is not None:
                reporthook(blocks, block_size, total)
            if progress is not None:
                progress(min(blocks * block_size, total) if total > 0 else blocks * block_size, total)
        return download(url, target, hook)

    file_utils.urlretrieve = reporting  # only the loader thread downloads
    try:
        build_application(architecture, weights="imagenet", **settings)
    finally:
        file_utils.urlretrieve = download


def build_application(architecture: str, *, include_top: bool, input_shape, pooling: str,
                      classes: int, weights: str | None, name: str | None = None):
    """Construct a `keras.applications` model; Keras's own errors become ModelLoadError."""
    import keras

    constructor = getattr(keras.applications, architecture)
    kwargs = dict(include_top=include_top, weights=weights, input_shape=tuple(input_shape),
                  pooling=None if pooling == "none" else pooling, classes=classes)
    if name:
        kwargs["name"] = name
    try:
        return constructor(**kwargs)
    except ValueError as error:
        raise ModelLoadError(f"{architecture} refuses these settings: {error}") from None
    except Exception as error:  # Keras reports a failed download as a bare Exception
        if weights == "imagenet":
            raise ModelLoadError(
                f"{architecture}: the imagenet weights are not in the Keras cache and could not "
                f"be downloaded ({error}); use weights none or a local weights file") from None
        raise ModelLoadError(f"{architecture}: cannot read weights {weights}: {error}") from None
