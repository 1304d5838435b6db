"""Image classification data sets as in-memory tensors (Fashion-MNIST, image folders, CIFAR-10).

:func:`load_images` reads a directory in one of three layouts, detected from
the file names:

- IDX files (MNIST / Fashion-MNIST): ``train-images-idx3-ubyte[.gz]``,
  ``train-labels-idx1-ubyte[.gz]``, ``t10k-images-idx3-ubyte[.gz]``,
  ``t10k-labels-idx1-ubyte[.gz]`` (``.idx3-ubyte`` spellings too);
- an image folder: ``train/<class>/*.png|jpg`` and ``test/<class>/...``;
- CIFAR-10 python batches: ``data_batch_1`` .. ``data_batch_5`` and
  ``test_batch`` (read with an unpickler that only admits numpy arrays).

Images are scaled to [0, 1], resized only when the caller asks for another
resolution, and normalised per channel with the training set's mean and std.
:meth:`ImageData.splits` cuts a validation set out of the *training* images,
so a search never sees the test set.
"""

from __future__ import annotations

import gzip
import io
import os
import pickle
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import numpy as np
import torch
import torch.nn.functional as F

from hwnas.errors import HwnasError

DEFAULT_DIR = "/usr/share/datasets/fashion-mnist"
ENV_VAR = "HWNAS_FASHION_MNIST"
INSTALL_FIX = "install Debian's dataset-fashion-mnist (apt-get install dataset-fashion-mnist) "
INSTALL_FIX += f"or pass --data-dir (or set {ENV_VAR})"

FASHION_CLASSES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp")
_IDX_IMAGES = 0x00000803  # unsigned byte, 3 dimensions
_IDX_LABELS = 0x00000801  # unsigned byte, 1 dimension


@dataclass(frozen=True)
class Split:
    """Images ``x`` (float32 N,C,H,W, normalised) and labels ``y`` (int64 N) of one split."""

    x: torch.Tensor
    y: torch.Tensor
    name: str = ""

    def __len__(self) -> int:
        return len(self.y)

    def subset(self, n: int | None, seed: int = 0) -> Split:
        """``n`` images drawn without replacement by a seeded permutation (all if ``n`` is None)."""
        if n is None or n >= len(self):
            return self
        if n < 1:
            raise HwnasError(f"a subset needs at least one image, got {n}")
        index = torch.from_numpy(np.random.default_rng(seed).permutation(len(self))[:n])
        return Split(self.x[index], self.y[index], self.name)

    def head(self, n: int) -> Split:
        """The first ``n`` images (a view, no copy)."""
        return Split(self.x[:n], self.y[:n], self.name)


@dataclass
class ImageData:
    """A data set held in memory: normalised float32 images and int64 labels.

    ``mean`` / ``std`` are the per-channel statistics of the training images
    that were used to normalise both sets; ``source`` is where it was read.
    """

    train_x: torch.Tensor
    train_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor
    classes: tuple[str, ...]
    name: str
    source: str
    mean: tuple[float, ...] = field(default=())
    std: tuple[float, ...] = field(default=())

    @property
    def channels(self) -> int:
        """Image channels (1 for Fashion-MNIST, 3 for CIFAR-10)."""
        return int(self.train_x.shape[1])

    @property
    def resolution(self) -> int:
        """Image height (= width)."""
        return int(self.train_x.shape[2])

    @property
    def train(self) -> Split:
        """All training images."""
        return Split(self.train_x, self.train_y, "train")

    @property
    def test(self) -> Split:
        """The test images (for final reports only, never for search decisions)."""
        return Split(self.test_x, self.test_y, "test")

    def splits(self, val_size: int = 5000, seed: int = 0) -> tuple[Split, Split, Split]:
        """(train, val, test): ``val`` is the last ``val_size`` of a seeded permutation of train.

        The test set is returned untouched; train and val never overlap.
        """
        n = len(self.train_y)
        if not 0 <= val_size < n:
            raise HwnasError(
                f"validation size {val_size} must be between 0 and {n - 1} "
                f"(the data set has {n} training images)",
                "choose a smaller validation size",
            )
        order = torch.from_numpy(np.random.default_rng(seed).permutation(n))
        train_idx, val_idx = order[: n - val_size], order[n - val_size :]
        return (
            Split(self.train_x[train_idx], self.train_y[train_idx], "train"),
            Split(self.train_x[val_idx], self.train_y[val_idx], "val"),
            self.test,
        )

    def describe(self) -> dict:
        """Name, source, shapes and class count (JSON-friendly)."""
        return {
            "name": self.name,
            "source": self.source,
            "train": len(self.train_y),
            "test": len(self.test_y),
            "shape": list(self.train_x.shape[1:]),
            "classes": len(self.classes),
        }


# ---------------------------------------------------------------------------
# public entry points
# ---------------------------------------------------------------------------


def default_data_dir() -> Path:
    """``$HWNAS_FASHION_MNIST`` or Debian's ``/usr/share/datasets/fashion-mnist``."""
    return Path(os.environ.get(ENV_VAR) or DEFAULT_DIR)


def load_images(
    data_dir: str | os.PathLike | None = None,
    resolution: int | None = None,
    in_channels: int | None = None,
) -> ImageData:
    """Read the data set in ``data_dir`` (IDX, image folder or CIFAR-10 batches; see module doc).

    ``resolution`` resizes (bilinear, antialiased) when it differs from the
    data's; ``in_channels`` must match the data's channels. Every problem
    (missing directory, unknown layout, truncated or malformed file, counts
    that disagree) is a one-line :class:`HwnasError` naming the fix.
    """
    root = Path(data_dir) if data_dir is not None else default_data_dir()
    if not root.is_dir():
        raise HwnasError(f"no image data set at {root}: not a directory", INSTALL_FIX)
    layout = detect_layout(root)
    if layout == "idx":
        raw = _read_idx_dir(root)
    elif layout == "folder":
        raw = _read_image_folder(root, resolution)
    elif layout == "cifar":
        raw = _read_cifar_dir(root)
    else:
        raise HwnasError(
            f"{root} holds no known image data set layout",
            "give a directory with Fashion-MNIST IDX files (train-images-idx3-ubyte.gz, ...), "
            "train/<class>/*.png + test/<class>/*.png, or CIFAR-10 python batches",
        )
    train_x, train_y, test_x, test_y, classes = raw
    if in_channels is not None and train_x.shape[1] != in_channels:
        raise HwnasError(
            f"{root} has {train_x.shape[1]}-channel images but the space expects {in_channels}",
            f"build the space with -o in_channels={train_x.shape[1]}",
        )
    train_t, test_t = _to_float(train_x, resolution), _to_float(test_x, resolution)
    mean = train_t.mean(dim=(0, 2, 3))
    std = train_t.std(dim=(0, 2, 3)).clamp_min(1e-6)
    for t in (train_t, test_t):
        t.sub_(mean[None, :, None, None]).div_(std[None, :, None, None])
    return ImageData(
        train_x=train_t,
        train_y=torch.from_numpy(train_y.astype(np.int64)),
        test_x=test_t,
        test_y=torch.from_numpy(test_y.astype(np.int64)),
        classes=tuple(classes),
        name=_name(root, layout),
        source=str(root),
        mean=tuple(float(v) for v in mean),
        std=tuple(float(v) for v in std),
    )


def load_for_space(space, data_dir: str | os.PathLike | None = None) -> ImageData:
    """:func:`load_images` at the space profile's resolution and channels; classes checked."""
    p = space.profile
    data = load_images(data_dir, resolution=p.resolution, in_channels=p.in_channels)
    if len(data.classes) > p.num_classes:
        raise HwnasError(
            f"{data.source} has {len(data.classes)} classes but the space's classifier has "
            f"{p.num_classes}",
            f"build the space with -o num_classes={len(data.classes)}",
        )
    return data


def detect_layout(root: Path) -> str | None:
    """``"idx"``, ``"folder"``, ``"cifar"`` or None, from the file names in ``root``."""
    names = {p.name for p in root.iterdir()}
    if any(_IDX_RE.fullmatch(n) for n in names):
        return "idx"
    if "data_batch_1" in names or "test_batch" in names:
        return "cifar"
    if (root / "train").is_dir():
        return "folder"
    return None


# ---------------------------------------------------------------------------
# IDX (MNIST / Fashion-MNIST)
# ---------------------------------------------------------------------------

_IDX_RE = re.compile(r"(train|t10k)-(images|labels)[-.]idx[13]-ubyte(\.gz)?")


def _find_idx(root: Path, prefix: str, kind: str) -> Path:
    dims = 3 if kind == "images" else 1
    for sep in ("-", "."):
        for suffix in (".gz", ""):
            path = root / f"{prefix}-{kind}{sep}idx{dims}-ubyte{suffix}"
            if path.is_file():
                return path
    raise HwnasError(
        f"{root} has IDX files but no {prefix}-{kind}-idx{dims}-ubyte[.gz]",
        "restore the missing file (all four of train/t10k images/labels are needed)",
    )


def _read_bytes(path: Path) -> bytes:
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rb") as f:
                return f.read()
        return path.read_bytes()
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise HwnasError(
            f"cannot read {path}: {exc}", "the file is truncated or corrupt; download it again"
        ) from None


def read_idx(path: Path, magic: int) -> np.ndarray:
    """Parse one IDX file (big-endian header, unsigned bytes) after checking its magic number."""
    raw = _read_bytes(path)
    if len(raw) < 4:
        raise HwnasError(f"{path} is too short to be an IDX file", "download it again")
    found = int.from_bytes(raw[:4], "big")
    if found != magic:
        raise HwnasError(
            f"{path} has magic number 0x{found:08x}, expected 0x{magic:08x}",
            "give the images-idx3 / labels-idx1 files of an MNIST-style data set",
        )
    ndim = magic & 0xFF
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise HwnasError(f"{path} has a truncated header", "download it again")
    shape = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    expected = int(np.prod(shape))
    if len(raw) - header != expected:
        raise HwnasError(
            f"{path} holds {len(raw) - header} data bytes, its header promises {expected} "
            f"(shape {shape})",
            "the file is truncated or corrupt; download it again",
        )
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(shape).copy()


def _read_idx_dir(root: Path):
    arrays = {}
    for prefix in ("train", "t10k"):
        images = read_idx(_find_idx(root, prefix, "images"), _IDX_IMAGES)
        labels = read_idx(_find_idx(root, prefix, "labels"), _IDX_LABELS)
        if len(images) != len(labels):
            raise HwnasError(
                f"{root}: {prefix} has {len(images)} images but {len(labels)} labels",
                "the files do not belong together; download them again",
            )
        arrays[prefix] = (images[:, None], labels)
    (train_x, train_y), (test_x, test_y) = arrays["train"], arrays["t10k"]
    n_classes = int(max(train_y.max(initial=0), test_y.max(initial=0))) + 1
    fashion = "fashion" in str(root).lower() and n_classes == len(FASHION_CLASSES)
    classes = FASHION_CLASSES if fashion else tuple(str(i) for i in range(n_classes))
    return train_x, train_y, test_x, test_y, classes


# ---------------------------------------------------------------------------
# image folder
# ---------------------------------------------------------------------------


def _read_image_folder(root: Path, resolution: int | None):
    from PIL import Image, UnidentifiedImageError

    train_dir, test_dir = root / "train", root / "test"
    if not test_dir.is_dir():
        raise HwnasError(f"{root} has train/ but no test/ folder", "add test/<class>/ images")
    classes = sorted(p.name for p in train_dir.iterdir() if p.is_dir())
    if not classes:
        raise HwnasError(f"{train_dir} has no class folders", "put images in train/<class>/")
    unknown = sorted(p.name for p in test_dir.iterdir() if p.is_dir() and p.name not in classes)
    if unknown:
        raise HwnasError(
            f"{test_dir} has classes {unknown} that train/ does not have",
            "use the same class folders in train/ and test/",
        )
    mode: str | None = None

    def read(split_dir: Path):
        nonlocal mode
        images, labels = [], []
        for label, cls in enumerate(classes):
            folder = split_dir / cls
            if not folder.is_dir():
                continue
            for path in sorted(folder.iterdir()):
                if path.suffix.lower() not in IMAGE_SUFFIXES:
                    continue
                try:
                    with Image.open(path) as img:
                        if mode is None:
                            mode = "L" if img.mode in ("1", "L", "I", "I;16", "F") else "RGB"
                        img = img.convert(mode)
                        if resolution is not None and img.size != (resolution, resolution):
                            img = img.resize((resolution, resolution), Image.BILINEAR)
                        array = np.asarray(img, dtype=np.uint8)
                except (OSError, UnidentifiedImageError) as exc:
                    raise HwnasError(
                        f"cannot read image {path}: {exc}", "remove or replace the file"
                    ) from None
                images.append(array[None] if array.ndim == 2 else array.transpose(2, 0, 1))
                labels.append(label)
        if not images:
            raise HwnasError(f"{split_dir} has no images", "add .png or .jpg files")
        shapes = {a.shape for a in images}
        if len(shapes) > 1:
            raise HwnasError(
                f"{split_dir} has images of different sizes {sorted(shapes)[:3]}",
                "resize them to one size, or give the space's resolution",
            )
        return np.stack(images), np.array(labels, dtype=np.int64)

    train_x, train_y = read(train_dir)
    test_x, test_y = read(test_dir)
    if train_x.shape[1:] != test_x.shape[1:]:
        raise HwnasError(
            f"{root}: train images are {train_x.shape[1:]}, test images {test_x.shape[1:]}",
            "give both splits the same size and colour mode",
        )
    return train_x, train_y, test_x, test_y, tuple(classes)


# ---------------------------------------------------------------------------
# CIFAR-10 python batches
# ---------------------------------------------------------------------------


class _NumpyOnlyUnpickler(pickle.Unpickler):
    """Admit the globals a CIFAR batch needs (numpy arrays), refuse any other code."""

    ALLOWED: ClassVar[frozenset[tuple[str, str]]] = frozenset(
        {
            ("numpy.core.multiarray", "_reconstruct"),
            ("numpy._core.multiarray", "_reconstruct"),
            ("numpy.core.multiarray", "scalar"),
            ("numpy._core.multiarray", "scalar"),
            ("numpy", "ndarray"),
            ("numpy", "dtype"),
        }
    )

    def find_class(self, module: str, name: str):
        if (module, name) in self.ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name}")


def _load_pickle(path: Path) -> dict:
    if not path.is_file():
        raise HwnasError(
            f"{path.parent} has CIFAR-10 batches but no {path.name}",
            "restore the missing batch (data_batch_1..5 and test_batch are needed)",
        )
    try:
        with path.open("rb") as f:
            data = _NumpyOnlyUnpickler(f, encoding="bytes").load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError) as exc:
        raise HwnasError(
            f"cannot read CIFAR batch {path}: {exc}", "the file is truncated or corrupt"
        ) from None
    if not isinstance(data, dict):
        raise HwnasError(f"CIFAR batch {path} is not a dict", "give CIFAR-10 python batches")
    return data


def _cifar_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    data = _load_pickle(path)
    images, labels = data.get(b"data"), data.get(b"labels", data.get(b"fine_labels"))
    if not isinstance(images, np.ndarray) or labels is None:
        raise HwnasError(
            f"CIFAR batch {path} lacks b'data' (array) or b'labels'",
            "give CIFAR-10 python batches (cifar-10-batches-py)",
        )
    labels = np.asarray(labels, dtype=np.int64)
    if images.ndim != 2 or images.shape[1] != 3072 or len(images) != len(labels):
        raise HwnasError(
            f"CIFAR batch {path}: data shape {images.shape} does not match "
            f"{len(labels)} labels x 3072 bytes",
            "the file is corrupt; download it again",
        )
    return images.astype(np.uint8).reshape(-1, 3, 32, 32), labels


def _read_cifar_dir(root: Path):
    parts = [_cifar_batch(root / f"data_batch_{i}") for i in range(1, 6)]
    train_x = np.concatenate([p[0] for p in parts])
    train_y = np.concatenate([p[1] for p in parts])
    test_x, test_y = _cifar_batch(root / "test_batch")
    n_classes = int(max(train_y.max(initial=0), test_y.max(initial=0))) + 1
    classes = tuple(str(i) for i in range(n_classes))
    meta = root / "batches.meta"
    if meta.is_file():
        names = _load_pickle(meta).get(b"label_names")
        if isinstance(names, list) and len(names) == n_classes:
            classes = tuple(n.decode() if isinstance(n, bytes) else str(n) for n in names)
    return train_x, train_y, test_x, test_y, classes


# ---------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------


def _to_float(images: np.ndarray, resolution: int | None) -> torch.Tensor:
    """uint8 N,C,H,W -> float32 in [0, 1], resized (in chunks) if ``resolution`` differs."""
    x = torch.from_numpy(np.ascontiguousarray(images))
    size = int(x.shape[2])
    if resolution is None or (size == resolution and x.shape[3] == resolution):
        return x.float().div_(255.0)
    out = torch.empty(len(x), x.shape[1], resolution, resolution)
    for start in range(0, len(x), 4096):
        chunk = x[start : start + 4096].float().div_(255.0)
        out[start : start + 4096] = F.interpolate(
            chunk, size=(resolution, resolution), mode="bilinear", antialias=True
        ).clamp_(0.0, 1.0)
    return out


def _name(root: Path, layout: str) -> str:
    return {"idx": root.name or "idx", "folder": root.name, "cifar": "cifar-10"}[layout]


def write_idx(path: Path, array: np.ndarray) -> None:
    """Write a uint8 array as an IDX file (gzipped if ``path`` ends in .gz); for tests and tools."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    header = (0x0800 | array.ndim).to_bytes(4, "big")
    header += b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    payload = header + array.tobytes()
    if str(path).endswith(".gz"):
        buffer = io.BytesIO()
        with gzip.GzipFile(fileobj=buffer, mode="wb", mtime=0) as f:
            f.write(payload)
        payload = buffer.getvalue()
    Path(path).write_bytes(payload)
