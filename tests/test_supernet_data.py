"""The supernet's data: the IDX, image-folder and CIFAR-10 readers, splits and errors."""

from __future__ import annotations

import gzip
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from hwnas.errors import HwnasError
from hwnas.plugins.hurricane.supernet.data import (
    DEFAULT_DIR,
    FASHION_CLASSES,
    ImageData,
    load_for_space,
    load_images,
    write_idx,
)

FASHION = Path(DEFAULT_DIR)


def make_idx(root: Path, n_train=30, n_test=10, size=8, gz=True, sep="-", seed=0):
    """Write a small MNIST-style IDX data set; returns the raw uint8 arrays."""
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    arrays = {}
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        images = rng.integers(0, 256, size=(n, size, size), dtype=np.uint8)
        labels = (np.arange(n) % 3).astype(np.uint8)
        suffix = ".gz" if gz else ""
        write_idx(root / f"{prefix}-images{sep}idx3-ubyte{suffix}", images)
        write_idx(root / f"{prefix}-labels{sep}idx1-ubyte{suffix}", labels)
        arrays[prefix] = (images, labels)
    return arrays


def denormalise(data: ImageData, x: torch.Tensor) -> torch.Tensor:
    mean = torch.tensor(data.mean)[None, :, None, None]
    std = torch.tensor(data.std)[None, :, None, None]
    return x * std + mean


@pytest.mark.parametrize("gz, sep", [(True, "-"), (False, "-"), (True, ".")])
def test_idx_round_trip_and_normalisation(tmp_path, gz, sep):
    raw = make_idx(tmp_path / "d", gz=gz, sep=sep)
    data = load_images(tmp_path / "d")
    assert data.train_x.shape == (30, 1, 8, 8) and data.test_x.shape == (10, 1, 8, 8)
    assert data.train_x.dtype == torch.float32 and data.train_y.dtype == torch.int64
    assert data.classes == ("0", "1", "2") and data.source == str(tmp_path / "d")
    # Normalised with the training set's statistics, and exactly invertible to pixels / 255.
    assert abs(float(data.train_x.mean())) < 1e-5 and abs(float(data.train_x.std()) - 1) < 1e-2
    for x, (images, _labels) in ((data.train_x, raw["train"]), (data.test_x, raw["t10k"])):
        pixels = denormalise(data, x)[:, 0] * 255
        assert torch.allclose(pixels, torch.from_numpy(images).float(), atol=1e-3)
    assert data.test_y.tolist() == raw["t10k"][1].tolist()


def test_idx_resize_and_channel_check(tmp_path):
    make_idx(tmp_path / "d", size=28)
    assert load_images(tmp_path / "d", resolution=14).train_x.shape == (30, 1, 14, 14)
    with pytest.raises(HwnasError, match="1-channel images") as info:
        load_images(tmp_path / "d", in_channels=3)
    assert "-o in_channels=1" in str(info.value)


def test_env_var_sets_the_default_dir(tmp_path, monkeypatch):
    make_idx(tmp_path / "fashion-mnist", n_train=20, n_test=10)
    monkeypatch.setenv("HWNAS_FASHION_MNIST", str(tmp_path / "fashion-mnist"))
    assert len(load_images().train_y) == 20


def test_idx_errors(tmp_path):
    root = tmp_path / "d"
    make_idx(root)
    images = root / "train-images-idx3-ubyte.gz"
    good = images.read_bytes()
    # Truncated gzip stream.
    images.write_bytes(good[: len(good) // 2])
    with pytest.raises(HwnasError, match="truncated or corrupt"):
        load_images(root)
    # Valid gzip, but the payload is shorter than the header promises.
    payload = gzip.decompress(good)
    images.write_bytes(gzip.compress(payload[:-5]))
    with pytest.raises(HwnasError, match="header promises"):
        load_images(root)
    # A labels file where an images file belongs: wrong magic number.
    images.write_bytes((root / "train-labels-idx1-ubyte.gz").read_bytes())
    with pytest.raises(HwnasError, match="magic number 0x00000801"):
        load_images(root)
    # Counts that disagree.
    images.write_bytes(good)
    write_idx(root / "train-labels-idx1-ubyte.gz", np.zeros(29, dtype=np.uint8))
    with pytest.raises(HwnasError, match="30 images but 29 labels"):
        load_images(root)
    # A missing file of the four.
    (root / "t10k-labels-idx1-ubyte.gz").unlink()
    write_idx(root / "train-labels-idx1-ubyte.gz", np.zeros(30, dtype=np.uint8))
    with pytest.raises(HwnasError, match="no t10k-labels"):
        load_images(root)


def test_missing_and_unknown_dirs(tmp_path):
    with pytest.raises(HwnasError, match="not a directory") as info:
        load_images(tmp_path / "nope")
    assert "dataset-fashion-mnist" in str(info.value) and "--data-dir" in str(info.value)
    (tmp_path / "readme.txt").write_text("hi")
    with pytest.raises(HwnasError, match="no known image data set layout"):
        load_images(tmp_path)


def write_folder(root: Path, mode: str, sizes=None, seed=0):
    from PIL import Image

    rng = np.random.default_rng(seed)
    channels = 3 if mode == "RGB" else 1
    expected = {}
    for split, n in (("train", 3), ("test", 2)):
        for label, cls in enumerate(("cat", "dog")):
            (root / split / cls).mkdir(parents=True)
            for i in range(n):
                size = (sizes or {}).get((split, cls, i), 6)
                shape = (size, size, 3) if channels == 3 else (size, size)
                array = rng.integers(0, 256, size=shape, dtype=np.uint8)
                Image.fromarray(array, mode).save(root / split / cls / f"{i}.png")
                expected[(split, label, i)] = array
    return expected


@pytest.mark.parametrize("mode", ["L", "RGB"])
def test_image_folder(tmp_path, mode):
    expected = write_folder(tmp_path, mode)
    data = load_images(tmp_path)
    channels = 3 if mode == "RGB" else 1
    assert data.classes == ("cat", "dog")
    assert data.train_x.shape == (6, channels, 6, 6) and data.test_x.shape == (4, channels, 6, 6)
    assert data.train_y.tolist() == [0, 0, 0, 1, 1, 1] and data.test_y.tolist() == [0, 0, 1, 1]
    pixels = (denormalise(data, data.train_x[4:5]) * 255).round()[0]  # train/dog/1.png
    array = expected[("train", 1, 1)]
    want = torch.from_numpy(array if channels == 1 else array.transpose(2, 0, 1)).float()
    assert torch.equal(pixels.reshape(want.shape), want)


def test_image_folder_errors(tmp_path):
    write_folder(tmp_path / "a", "L", sizes={("train", "cat", 1): 7})
    with pytest.raises(HwnasError, match="different sizes"):
        load_images(tmp_path / "a")
    # With a target resolution the sizes are made equal.
    assert load_images(tmp_path / "a", resolution=6).train_x.shape == (6, 1, 6, 6)
    write_folder(tmp_path / "b", "L")
    (tmp_path / "b" / "test" / "bird").mkdir()
    with pytest.raises(HwnasError, match=r"classes \['bird'\]"):
        load_images(tmp_path / "b")
    write_folder(tmp_path / "c", "L")
    (tmp_path / "c" / "train" / "cat" / "9.png").write_bytes(b"not a png")
    with pytest.raises(HwnasError, match="cannot read image"):
        load_images(tmp_path / "c")


def write_cifar(root: Path, per_batch=4, n_test=5):
    rng = np.random.default_rng(0)
    root.mkdir(parents=True, exist_ok=True)
    batches = {}
    for name, n in [*((f"data_batch_{i}", per_batch) for i in range(1, 6)), ("test_batch", n_test)]:
        data = rng.integers(0, 256, size=(n, 3072), dtype=np.uint8)
        labels = [int(v) for v in rng.integers(0, 10, size=n)]
        with (root / name).open("wb") as f:
            pickle.dump({b"data": data, b"labels": labels, b"batch_label": b"x"}, f)
        batches[name] = (data, labels)
    names = [n.encode() for n in ("airplane", "car", "bird", "cat", "deer")]
    names += [n.encode() for n in ("dog", "frog", "horse", "ship", "truck")]
    with (root / "batches.meta").open("wb") as f:
        pickle.dump({b"label_names": names}, f)
    return batches


def test_cifar_batches(tmp_path):
    batches = write_cifar(tmp_path)
    data = load_images(tmp_path)
    assert data.train_x.shape == (20, 3, 32, 32) and data.test_x.shape == (5, 3, 32, 32)
    assert data.classes[0] == "airplane" and len(data.classes) == 10
    assert data.train_y[4:8].tolist() == batches["data_batch_2"][1]
    # Row layout: 1024 red, then green, then blue values, each 32x32 row-major.
    raw = batches["data_batch_2"][0][1]
    pixels = (denormalise(data, data.train_x[5:6]) * 255).round()[0]
    assert torch.equal(pixels, torch.from_numpy(raw.reshape(3, 32, 32)).float())
    with pytest.raises(HwnasError, match="-o in_channels=3"):
        load_images(tmp_path, in_channels=1)


class Exploit:
    def __reduce__(self):
        return (print, ("pwned",))


def test_cifar_errors_and_no_code_execution(tmp_path):
    write_cifar(tmp_path / "a")
    with (tmp_path / "a" / "test_batch").open("wb") as f:
        pickle.dump({b"data": Exploit(), b"labels": []}, f)
    with pytest.raises(HwnasError, match=r"refusing to load builtins\.print"):
        load_images(tmp_path / "a")
    write_cifar(tmp_path / "b")
    (tmp_path / "b" / "data_batch_3").unlink()
    with pytest.raises(HwnasError, match="no data_batch_3"):
        load_images(tmp_path / "b")
    write_cifar(tmp_path / "c")
    path = tmp_path / "c" / "data_batch_1"
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(HwnasError, match="cannot read CIFAR batch"):
        load_images(tmp_path / "c")


def test_splits_hold_out_validation_from_training(tmp_path):
    make_idx(tmp_path, n_train=50, n_test=10)
    data = load_images(tmp_path)
    train, val, test = data.splits(val_size=12, seed=3)
    assert (len(train), len(val), len(test)) == (38, 12, 10)
    assert test.x is data.test_x
    # Train and val partition the training images (rows are distinct random images).
    rows = {tuple(r.tolist()) for r in data.train_x.flatten(1)}
    seen = [tuple(r.tolist()) for r in torch.cat([train.x, val.x]).flatten(1)]
    assert len(set(seen)) == 50 and set(seen) == rows
    again = data.splits(val_size=12, seed=3)[1]
    assert torch.equal(again.x, val.x) and torch.equal(again.y, val.y)
    assert not torch.equal(data.splits(val_size=12, seed=4)[1].x, val.x)
    with pytest.raises(HwnasError, match="validation size"):
        data.splits(val_size=50)
    sub = train.subset(5, seed=1)
    assert len(sub) == 5 and torch.equal(sub.x, train.subset(5, seed=1).x)


def test_load_for_space_checks_classes(tmp_path):
    from hwnas.spaces.hurricane.space import HurricaneSpace

    make_idx(tmp_path, size=28)
    assert load_for_space(HurricaneSpace("tiny"), tmp_path).resolution == 28
    with pytest.raises(HwnasError, match="num_classes=3"):
        load_for_space(HurricaneSpace("tiny", num_classes=2), tmp_path)


@pytest.mark.skipif(not FASHION.is_dir(), reason="Debian's dataset-fashion-mnist not installed")
def test_real_fashion_mnist():
    data = load_images(FASHION)
    assert data.classes == FASHION_CLASSES
    assert data.train_x.shape == (60000, 1, 28, 28) and data.test_x.shape == (10000, 1, 28, 28)
    assert torch.bincount(data.train_y).tolist() == [6000] * 10
    assert torch.bincount(data.test_y).tolist() == [1000] * 10
    assert 0.25 < data.mean[0] < 0.32 and 0.3 < data.std[0] < 0.4
    train, val, test = data.splits()
    assert (len(train), len(val), len(test)) == (55000, 5000, 10000)
