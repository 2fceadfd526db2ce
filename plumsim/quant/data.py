"""Data sets for training and evaluation; nothing is downloaded.

Specs (``--data``):

- ``digits``: scikit-learn's 8x8 digits (1797 images, embedded in the package), scaled to [0, 1] and
  standardised; a fixed split (seed 0, independent of the training seed): 1437 train / 360 val.
- ``cifar10:PATH``: a local CIFAR-10 in its standard python-pickle layout (``data_batch_1`` ..
  ``data_batch_5``, ``test_batch``; each a dict with b"data" uint8 [10000, 3072] and b"labels").
- ``imagenet:PATH``: ``PATH/train/<class>/*.JPEG`` and ``PATH/val/<class>/*`` (folder per class,
  classes sorted by name), read with PIL: train = random 224 crop of the 256-resized image + flip,
  val = centre 224 crop.

Missing or malformed paths raise :class:`DataError` naming the path and what was expected.
:func:`batches` yields shuffled (and for CIFAR/ImageNet augmented) batches from a seeded generator,
so an epoch's batches depend only on (seed, epoch): resuming needs no data-loader state.
"""

from __future__ import annotations

import pickle
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from plumsim.errors import DataError

CIFAR_MEAN = np.array([0.4914, 0.4822, 0.4465], dtype=np.float32)
CIFAR_STD = np.array([0.2470, 0.2435, 0.2616], dtype=np.float32)
IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
IMAGENET_STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)
IMAGE_EXTS = {".jpeg", ".jpg", ".png", ".bmp", ".webp"}


@dataclass
class TensorSplit:
    """An in-memory split: x float32 [N, C, H, W], y int64 [N]; ``augment`` = 'crop-flip' or None."""

    x: torch.Tensor
    y: torch.Tensor
    augment: str | None = None

    def __len__(self) -> int:
        return int(self.y.shape[0])


@dataclass
class FolderSplit:
    """Images listed from a folder-per-class tree, decoded lazily with PIL."""

    files: list
    y: torch.Tensor
    train: bool

    def __len__(self) -> int:
        return len(self.files)


@dataclass
class DataSet:
    """A named data set: ``train`` and ``val`` splits, ``num_classes``, ``input_shape`` (C, H, W)."""

    name: str
    spec: str
    train: object
    val: object
    num_classes: int
    input_shape: tuple


def parse_spec(spec: str) -> tuple[str, Path | None]:
    """'digits' | 'cifar10:PATH' | 'imagenet:PATH' -> (kind, path)."""
    if not isinstance(spec, str) or not spec:
        raise DataError("expected 'digits', 'cifar10:PATH' or 'imagenet:PATH'", field="data")
    kind, _, rest = spec.partition(":")
    if kind == "digits" and not rest:
        return "digits", None
    if kind in ("cifar10", "imagenet"):
        if not rest:
            raise DataError(f"'{kind}' needs a local folder: '{kind}:PATH' (nothing is downloaded)", field="data")
        return kind, Path(rest).expanduser()
    raise DataError(f"unknown data set '{spec}'; expected 'digits', 'cifar10:PATH' or 'imagenet:PATH'",
                    field="data")


def load_data(spec: str) -> DataSet:
    """Load the data set named by ``spec`` (see module docstring)."""
    kind, path = parse_spec(spec)
    if kind == "digits":
        return _digits(spec)
    if kind == "cifar10":
        return _cifar10(spec, path)
    return _imagenet(spec, path)


# ---------------------------------------------------------------- digits
def _digits(spec) -> DataSet:
    from sklearn.datasets import load_digits

    d = load_digits()
    x = (d.images.astype(np.float32) / 16.0)[:, None]                 # [1797, 1, 8, 8], 0..1
    y = d.target.astype(np.int64)
    order = np.random.RandomState(0).permutation(len(y))              # fixed split, not the train seed
    n_val = 360
    val, tr = order[:n_val], order[n_val:]
    mean, std = float(x[tr].mean()), float(x[tr].std())
    x = (x - mean) / std
    return DataSet("digits", spec, TensorSplit(torch.from_numpy(x[tr]), torch.from_numpy(y[tr])),
                   TensorSplit(torch.from_numpy(x[val]), torch.from_numpy(y[val])), 10, (1, 8, 8))


# ---------------------------------------------------------------- CIFAR-10
def _read_cifar_batch(file: Path):
    if not file.is_file():
        raise DataError("missing file; a CIFAR-10 folder (python version) holds data_batch_1..5 and "
                        "test_batch", path=file)
    try:
        with open(file, "rb") as f:
            d = pickle.load(f, encoding="bytes")  # the data set's own format (trusted local copy)
        data = np.asarray(d[b"data"], dtype=np.uint8)
        labels = np.asarray(d.get(b"labels", d.get(b"fine_labels")), dtype=np.int64)
    except DataError:
        raise
    except Exception as exc:  # any unpickling / layout problem is a malformed file
        raise DataError(f"not a CIFAR-10 python batch ({type(exc).__name__}: {exc}); expected a pickled "
                        "dict with b'data' uint8 [N, 3072] and b'labels'", path=file) from None
    if data.ndim != 2 or data.shape[1] != 3072 or labels.shape != (data.shape[0],):
        raise DataError(f"expected b'data' [N, 3072] and N labels, got {data.shape} and {labels.shape}",
                        path=file, field="data")
    if labels.size and (labels.min() < 0 or labels.max() > 9):
        raise DataError("labels must be 0..9", path=file, field="labels")
    return data.reshape(-1, 3, 32, 32), labels


def _cifar_tensor(data):
    x = data.astype(np.float32) / 255.0
    x = (x - CIFAR_MEAN[None, :, None, None]) / CIFAR_STD[None, :, None, None]
    return torch.from_numpy(np.ascontiguousarray(x))


def _cifar10(spec, path: Path) -> DataSet:
    if not path.is_dir():
        raise DataError("CIFAR-10 folder not found; expected the python version (data_batch_1..5, "
                        "test_batch)", path=path)
    if (path / "cifar-10-batches-py").is_dir():                        # the archive's own top folder
        path = path / "cifar-10-batches-py"
    parts = [_read_cifar_batch(path / f"data_batch_{i}") for i in range(1, 6)]
    xt, yt = _read_cifar_batch(path / "test_batch")
    xtr = np.concatenate([p[0] for p in parts])
    ytr = np.concatenate([p[1] for p in parts])
    return DataSet("cifar10", spec, TensorSplit(_cifar_tensor(xtr), torch.from_numpy(ytr), "crop-flip"),
                   TensorSplit(_cifar_tensor(xt), torch.from_numpy(yt)), 10, (3, 32, 32))


# ---------------------------------------------------------------- ImageNet (folder per class)
def _imagenet(spec, path: Path) -> DataSet:
    try:
        import PIL.Image  # noqa: F401
    except ImportError:
        raise DataError("reading ImageNet folders needs Pillow (pip install pillow)", path=path) from None
    if not path.is_dir():
        raise DataError("ImageNet folder not found; expected PATH/train/<class>/*.JPEG and "
                        "PATH/val/<class>/*.JPEG", path=path)
    splits = {}
    classes = None
    for split in ("train", "val"):
        root = path / split
        if not root.is_dir():
            raise DataError("missing folder; expected one sub-folder per class", path=root)
        names = sorted(p.name for p in root.iterdir() if p.is_dir())
        if not names:
            raise DataError("no class folders found", path=root)
        if classes is None:
            classes = names
        elif names != classes:
            raise DataError(f"class folders differ from train/ ({len(names)} vs {len(classes)})", path=root)
        files, labels = [], []
        for i, c in enumerate(names):
            for f in sorted((root / c).iterdir()):
                if f.suffix.lower() in IMAGE_EXTS:
                    files.append(f)
                    labels.append(i)
        if not files:
            raise DataError(f"no images ({', '.join(sorted(IMAGE_EXTS))}) found", path=root)
        splits[split] = FolderSplit(files, torch.tensor(labels, dtype=torch.int64), split == "train")
    return DataSet("imagenet", spec, splits["train"], splits["val"], len(classes), (3, 224, 224))


def _load_image(file: Path, train: bool, rng: np.random.RandomState) -> np.ndarray:
    from PIL import Image

    try:
        with Image.open(file) as im:
            im = im.convert("RGB")
            w, h = im.size
            s = 256 / min(w, h)
            im = im.resize((max(224, round(w * s)), max(224, round(h * s))), Image.BILINEAR)
            a = np.asarray(im, dtype=np.float32) / 255.0
    except (OSError, ValueError) as exc:
        raise DataError(f"cannot read image: {exc}", path=file) from None
    H, W = a.shape[:2]
    if train:
        top, left = rng.randint(0, H - 223), rng.randint(0, W - 223)
    else:
        top, left = (H - 224) // 2, (W - 224) // 2
    a = a[top:top + 224, left:left + 224]
    if train and rng.rand() < 0.5:
        a = a[:, ::-1]
    a = (a - IMAGENET_MEAN) / IMAGENET_STD
    return np.ascontiguousarray(a.transpose(2, 0, 1))


# ---------------------------------------------------------------- batching
def _crop_flip(x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """Random 4-pixel-padded crop and horizontal flip per image (CIFAR standard augmentation)."""
    n, _, h, w = x.shape
    padded = torch.nn.functional.pad(x, (4, 4, 4, 4))
    dx = torch.randint(0, 9, (n,), generator=g)
    dy = torch.randint(0, 9, (n,), generator=g)
    flip = torch.rand(n, generator=g) < 0.5
    out = torch.empty_like(x)
    for i in range(n):
        img = padded[i, :, dy[i]:dy[i] + h, dx[i]:dx[i] + w]
        out[i] = img.flip(-1) if flip[i] else img
    return out


def batches(split, batch_size: int, shuffle: bool = False, seed: int = 0, epoch: int = 0):
    """Yield (x, y) batches. Shuffling/augmentation draw from a generator seeded by (seed, epoch)."""
    n = len(split)
    g = torch.Generator().manual_seed(int(seed) * 100_003 + int(epoch))
    order = torch.randperm(n, generator=g) if shuffle else torch.arange(n)
    rng = np.random.RandomState((int(seed) * 100_003 + int(epoch)) % (2 ** 32))
    for start in range(0, n, batch_size):
        idx = order[start:start + batch_size]
        if isinstance(split, TensorSplit):
            x = split.x[idx]
            if shuffle and split.augment == "crop-flip":
                x = _crop_flip(x, g)
        else:
            x = torch.from_numpy(np.stack([_load_image(split.files[i], split.train and shuffle, rng)
                                           for i in idx.tolist()]))
        yield x, split.y[idx]
