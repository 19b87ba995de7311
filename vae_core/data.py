"""Datasets as in-memory tensors: the bundled 8x8 digits, and MNIST-format IDX sets read from a folder or downloaded."""
from __future__ import annotations

import gzip
import math
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .datasets import DatasetSpec, get_spec
from .errors import DataError

# The four files of an MNIST-format set, under their standard names (".gz" optional).
IDX_FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}
MAX_IDX_BYTES = 2**27  # an IDX file's data at most (MNIST's training images take 47 MB; 4 times that as pixels)
DIGITS_TEST_SIZE = 300
DIGITS_SPLIT_SEED = 0


@dataclass(frozen=True)
class Dataset:
    """Images flattened to rows of float32 pixels in [0, 1], labels as int64."""
    name: str
    train_x: torch.Tensor
    train_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor
    image_shape: tuple[int, int, int]
    classes: tuple[str, ...]
    source: str  # where the data came from, for display


def default_data_dir() -> Path | None:
    """The folder named by VAE_DATA_DIR, if set."""
    value = os.environ.get("VAE_DATA_DIR")
    return Path(value).expanduser() if value else None


def cache_dir() -> Path:
    """Where downloads go: VAE_CACHE_DIR, or ~/.cache/vae-lab."""
    return Path(os.environ.get("VAE_CACHE_DIR") or Path.home() / ".cache" / "vae-lab").expanduser()


def load_dataset(name: str, data_dir: str | Path | None = None, download: bool = True) -> Dataset:
    """Load a registered dataset whole into memory.

    IDX sets are looked for in data_dir's subfolder named after the dataset, in torchvision's layout
    below it (e.g. MNIST/raw/), in data_dir itself, and in the download cache; when none has them and
    download is true, torchvision downloads them into the cache. Without data_dir, VAE_DATA_DIR stands
    in, but its own files count only for the dataset it is named after (VAE_DATA_DIR=.../mnist holds
    MNIST, not Fashion-MNIST: the files have the same names).
    """
    spec = get_spec(name)
    if spec.torchvision_name is None:
        return _load_digits(spec)
    explicit = data_dir is not None
    data_dir = Path(data_dir).expanduser() if explicit else default_data_dir()
    include_top = explicit or _named_for(spec, data_dir)
    candidates = idx_candidates(spec, data_dir, include_top)
    folder = find_idx_folder(spec, candidates)
    if folder is None:
        if data_dir is not None and not data_dir.is_dir():
            raise DataError(f"data folder {data_dir} does not exist: create it and put {_file_names()} into it")
        missing = _missing_message(spec, candidates, None if data_dir is None else
                                   data_dir if include_top else data_dir / spec.name)
        if not download:
            raise DataError(missing)
        folder = download_idx(spec, missing)
    return read_idx_folder(spec, folder)


def _named_for(spec: DatasetSpec, folder: Path | None) -> bool:
    return folder is not None and folder.name.lower() in (spec.name, spec.torchvision_name.lower())


def idx_candidates(spec: DatasetSpec, data_dir: Path | None, include_top: bool = True) -> list[Path]:
    """The folders searched for a set's IDX files, in order: data_dir's subfolder named after the set,
    torchvision's layout below it, data_dir itself (if include_top), and the download cache."""
    candidates = []
    if data_dir is not None:
        candidates += [data_dir / spec.name, data_dir / spec.torchvision_name / "raw"]
        if include_top:
            candidates.append(data_dir)
    return candidates + [cache_dir() / spec.torchvision_name / "raw"]


def find_idx_folder(spec: DatasetSpec, candidates: list[Path]) -> Path | None:
    """The first candidate folder holding all four IDX files; a folder holding only some is an error."""
    for folder in candidates:
        found = {key: _idx_path(folder, stem) for key, stem in IDX_FILES.items()}
        present = [key for key, path in found.items() if path is not None]
        if len(present) == len(IDX_FILES):
            return folder
        if present:
            missing = [IDX_FILES[k] + "[.gz]" for k in IDX_FILES if k not in present]
            raise DataError(f"{folder} holds only part of {spec.name}: missing {', '.join(missing)}")
    return None


def _idx_path(folder: Path, stem: str) -> Path | None:
    for path in (folder / stem, folder / (stem + ".gz")):
        if path.is_file():
            return path
    return None


def _file_names() -> str:
    return ", ".join(stem + ".gz" for stem in IDX_FILES.values()) + " (gzip-compressed or not)"


def _missing_message(spec: DatasetSpec, searched: list[Path], target: Path | None) -> str:
    where = f"{target}/" if target else f"a folder named {spec.name}/ and point --data-dir or VAE_DATA_DIR at it"
    return (f"{spec.name} not found: searched {', '.join(str(f) for f in searched)}; "
            f"put {_file_names()} into {where}")


def download_idx(spec: DatasetSpec, missing: str) -> Path:
    """Download through torchvision into the cache; only a complete download is moved into place.

    missing says what was searched and where the files belong, for the error if the download fails."""
    import torchvision.datasets

    final = cache_dir() / spec.torchvision_name / "raw"
    final.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".download-", dir=final.parent.parent))
    try:
        getattr(torchvision.datasets, spec.torchvision_name)(str(staging), train=True, download=True)
        shutil.rmtree(final, ignore_errors=True)
        os.replace(staging / spec.torchvision_name / "raw", final)
    except Exception as e:  # torchvision raises RuntimeError or URLError after trying every mirror
        first_line = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise DataError(f"could not download {spec.name} ({first_line}); with no network, "
                        f"{missing}") from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return final


def read_idx_folder(spec: DatasetSpec, folder: Path) -> Dataset:
    arrays = {key: read_idx(_idx_path(folder, stem)) for key, stem in IDX_FILES.items()}
    _, height, width = spec.image_shape
    for split in ("train", "test"):
        images, labels = arrays[f"{split}_images"], arrays[f"{split}_labels"]
        images_file = _idx_path(folder, IDX_FILES[f"{split}_images"])
        if images.ndim != 3 or images.shape[1:] != (height, width):
            raise DataError(f"{images_file}: images of shape {images.shape[1:]}, expected ({height}, {width})")
        if labels.ndim != 1 or len(labels) != len(images):
            raise DataError(f"{_idx_path(folder, IDX_FILES[f'{split}_labels'])}: {labels.shape} labels "
                            f"for {len(images)} images in {images_file}")
        if labels.size and labels.max() >= len(spec.classes):
            raise DataError(f"{_idx_path(folder, IDX_FILES[f'{split}_labels'])}: label {labels.max()} "
                            f"out of range 0-{len(spec.classes) - 1}")
    return Dataset(
        name=spec.name,
        train_x=_pixels(arrays["train_images"]), train_y=torch.from_numpy(arrays["train_labels"].astype(np.int64)),
        test_x=_pixels(arrays["test_images"]), test_y=torch.from_numpy(arrays["test_labels"].astype(np.int64)),
        image_shape=spec.image_shape, classes=spec.classes, source=str(folder),
    )


def _pixels(images: np.ndarray) -> torch.Tensor:
    return torch.tensor(images.reshape(len(images), -1)).float().div_(255.0)  # a copy: the buffer is read-only


def read_idx(path: str | Path) -> np.ndarray:
    """Read an IDX file of unsigned bytes (gzip-compressed or raw), checking header and length; no more is read or
    inflated than the header's shape needs (a 1 MB gzip of zeros inflated whole to 1 GB took 2.5 GB to refuse)."""
    path = Path(path)
    try:
        with open(path, "rb") as file:
            gzipped = file.read(2) == b"\x1f\x8b"
            file.seek(0)
            f = gzip.GzipFile(fileobj=file) if gzipped else file
            head = f.read(4)
            if len(head) < 4 or head[0] != 0 or head[1] != 0:
                raise DataError(f"{path}: not an IDX file (bad magic number)")
            if head[2] != 0x08:
                raise DataError(f"{path}: IDX element type {head[2]:#04x}, expected unsigned bytes (0x08)")
            ndim, dims = head[3], f.read(4 * head[3])
            if ndim not in (1, 3) or len(dims) < 4 * ndim:
                raise DataError(f"{path}: {ndim}-dimensional IDX, expected labels (1) or images (3)")
            shape = tuple(int.from_bytes(dims[4 * i: 4 + 4 * i], "big") for i in range(ndim))
            size = math.prod(shape)  # (np.prod wrapped around: 2**22 x 2**21 x 2**21 images "needed" 0 bytes)
            if size > MAX_IDX_BYTES:
                raise DataError(f"{path}: header {shape} needs {size:,} bytes, more than the {MAX_IDX_BYTES:,} "
                                "a set's file may take")
            body = f.read(size + 1)
    except (OSError, EOFError, gzip.BadGzipFile) as e:
        raise DataError(f"{path}: cannot read ({e})") from None
    if len(body) != size:
        needed, length = 4 + 4 * ndim + size, 4 + 4 * ndim + len(body)
        held = f"{length:,} bytes" if len(body) < size else f"more than {needed:,} bytes"
        raise DataError(f"{path}: {held}, header {shape} needs {needed:,} (truncated or padded)")
    return np.frombuffer(body, dtype=np.uint8).reshape(shape)


def _load_digits(spec: DatasetSpec) -> Dataset:
    from sklearn.datasets import load_digits

    bunch = load_digits()
    x = torch.from_numpy(bunch.data).float().div_(16.0)
    y = torch.from_numpy(bunch.target).long()
    order = torch.randperm(len(x), generator=torch.Generator().manual_seed(DIGITS_SPLIT_SEED))
    test, train = order[:DIGITS_TEST_SIZE], order[DIGITS_TEST_SIZE:]
    return Dataset(spec.name, x[train], y[train], x[test], y[test], spec.image_shape, spec.classes,
                   source="scikit-learn (bundled)")


def binarize(x: torch.Tensor, generator: torch.Generator | None = None, out: torch.Tensor | None = None) -> torch.Tensor:
    """Bernoulli draw per pixel with the grey level as its probability (dynamic binarisation), into out if given."""
    return torch.bernoulli(x, generator=generator, out=out)
