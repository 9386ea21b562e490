"""imagenet weights go through Keras's own download cache, with progress reported, and an
offline machine gets the clear message (tests never download: the network is faked or absent)."""

from __future__ import annotations

import pytest
from keras.src.utils import file_utils

from app.core.cards.applications import fetch_imagenet_weights
from app.core.cards.loading import ModelLoadError

SETTINGS = dict(include_top=False, input_shape=[96, 96, 3], pooling="avg", classes=1000)


def test_progress_is_reported_while_keras_downloads_into_its_cache(tmp_path, monkeypatch):
    monkeypatch.setattr(file_utils.config, "keras_home", lambda: str(tmp_path))
    fetched = []

    def fake_network(url, target, reporthook):
        for block in range(1, 5):
            reporthook(block, 1000, 3500)
        with open(target, "wb") as handle:
            handle.write(b"not really weights")
        fetched.append((url, target))

    monkeypatch.setattr(file_utils, "urlretrieve", fake_network)
    seen = []
    with pytest.raises(ModelLoadError):  # the fake file fails Keras's hash check afterwards
        fetch_imagenet_weights("MobileNetV2", SETTINGS, lambda got, total: seen.append((got, total)))
    (url, target), = fetched
    assert url.startswith("https://storage.googleapis.com/") and target.startswith(str(tmp_path / "models"))
    assert seen == [(1000, 3500), (2000, 3500), (3000, 3500), (3500, 3500)]
    assert file_utils.urlretrieve is fake_network  # put back afterwards


def test_offline_gives_the_clear_message(tmp_path, monkeypatch):
    monkeypatch.setattr(file_utils.config, "keras_home", lambda: str(tmp_path))

    def no_network(url, target, reporthook):
        raise OSError("[Errno -2] Name or service not known")

    monkeypatch.setattr(file_utils, "urlretrieve", no_network)
    offline = "not in the Keras cache and could not be downloaded .*; use weights none or a local weights"
    with pytest.raises(ModelLoadError, match=offline):
        fetch_imagenet_weights("MobileNetV2", SETTINGS)
