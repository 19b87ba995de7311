"""Reading IDX files and folders, the digits split, the no-network message, and the real MNIST files."""
import gzip

import numpy as np
import pytest
import torch

from conftest import write_idx, write_idx_set
from vae_core import DataError, load_dataset
from vae_core.data import binarize, read_idx


@pytest.mark.parametrize("name", ["x.gz", "x"])
def test_read_idx_round_trips_gzip_and_raw(tmp_path, name):
    array = np.arange(2 * 3 * 4).reshape(2, 3, 4)
    path = write_idx(tmp_path / name, array)
    assert np.array_equal(read_idx(path), array)


def test_read_idx_names_the_file_and_the_problem(tmp_path):
    good = write_idx(tmp_path / "good", np.zeros((5, 4, 4)))
    raw = good.read_bytes()
    cases = {
        "magic": b"\x12\x34" + raw[2:],
        "element type": raw[:2] + b"\x0d" + raw[3:],
        "truncated": raw[:-7],
        "dimensional": raw[:3] + b"\x02" + raw[4:],
    }
    for expected, content in cases.items():
        bad = tmp_path / f"bad-{expected.replace(' ', '-')}"
        bad.write_bytes(content)
        with pytest.raises(DataError, match=expected) as err:
            read_idx(bad)
        assert str(bad) in str(err.value)
    broken_gzip = tmp_path / "broken.gz"
    broken_gzip.write_bytes(gzip.compress(raw)[:-20])
    with pytest.raises(DataError, match="cannot read") as err:
        read_idx(broken_gzip)
    assert str(broken_gzip) in str(err.value)


def test_read_idx_refuses_a_shape_past_its_bound_and_inflates_no_more_than_its_header_needs(tmp_path):
    """A 16-byte header of 2**22 x 2**21 x 2**21 images "needed" 0 bytes (np.prod wrapped around) and gave a ValueError
    traceback; a 1 MB gzip claiming one 28x28 image over 1 GB of zeros was inflated whole (2.5 GB held) to be
    refused."""
    import struct
    import tracemalloc

    huge = tmp_path / "huge"
    huge.write_bytes(bytes([0, 0, 8, 3]) + struct.pack(">III", 2**22, 2**21, 2**21))
    with pytest.raises(DataError, match=r"needs 18,446,744,073,709,551,616 bytes, more than the 134,217,728"):
        read_idx(huge)
    bomb = tmp_path / "bomb.gz"
    with gzip.open(bomb, "wb") as f:
        f.write(bytes([0, 0, 8, 3]) + struct.pack(">III", 1, 28, 28))
        for _ in range(16):
            f.write(bytes(2**24))  # 256 MB of zeros: 0.25 MB of gzip
    tracemalloc.start()
    with pytest.raises(DataError, match=r"more than 800 bytes, header \(1, 28, 28\) needs 800 \(truncated or padded\)"):
        read_idx(bomb)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 2**20, f"{peak / 2**20:.0f} MB held while refusing"


def test_folder_of_gz_files_loads_as_pixels_in_unit_range(tmp_path):
    arrays = write_idx_set(tmp_path / "mnist")
    data = load_dataset("mnist", tmp_path, download=False)  # found in the subfolder named after the set
    assert data.train_x.shape == (12, 784) and data.test_x.shape == (6, 784)
    assert data.train_x.dtype == torch.float32 and 0 <= data.train_x.min() and data.train_x.max() <= 1
    torch.testing.assert_close(data.train_x[0] * 255, torch.tensor(arrays["train-images-idx3-ubyte"][0].ravel(),
                                                                   dtype=torch.float32))
    assert data.test_y.tolist() == arrays["t10k-labels-idx1-ubyte"].tolist()


def test_reads_what_torchvision_leaves_on_disk(tmp_path):
    """torchvision.datasets.MNIST keeps uncompressed files under <root>/MNIST/raw/."""
    write_idx_set(tmp_path / "FashionMNIST" / "raw", gz=False)
    data = load_dataset("fashion-mnist", tmp_path, download=False)
    assert len(data.train_x) == 12 and data.classes[0] == "T-shirt"
    # and torchvision itself reads the same layout
    import torchvision.datasets
    tv = torchvision.datasets.FashionMNIST(str(tmp_path), train=False, download=False)
    assert torch.equal(tv.data.reshape(len(tv.data), -1).float() / 255, data.test_x)


def test_download_cache_is_searched(isolated_cache):
    write_idx_set(isolated_cache / "KMNIST" / "raw")
    assert load_dataset("kmnist", download=False).source == str(isolated_cache / "KMNIST" / "raw")


def test_data_dir_setting_serves_only_the_dataset_it_is_named_for(tmp_path, isolated_cache, monkeypatch):
    """MNIST, Fashion-MNIST and KMNIST files share names: VAE_DATA_DIR=.../mnist must not pass for kmnist."""
    write_idx_set(tmp_path / "mnist")
    monkeypatch.setenv("VAE_DATA_DIR", str(tmp_path / "mnist"))
    assert load_dataset("mnist", download=False).source == str(tmp_path / "mnist")
    with pytest.raises(DataError, match="kmnist not found"):
        load_dataset("kmnist", download=False)
    monkeypatch.setenv("VAE_DATA_DIR", str(tmp_path))  # a parent folder with one subfolder per set
    assert load_dataset("mnist", download=False).source == str(tmp_path / "mnist")
    assert len(load_dataset("kmnist", tmp_path / "mnist", download=False).train_x) == 12  # explicit: trusted


def test_folder_with_wrong_files_is_refused(tmp_path):
    write_idx_set(tmp_path)
    (tmp_path / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(DataError, match="missing t10k-labels-idx1-ubyte"):
        load_dataset("mnist", tmp_path, download=False)


def test_labels_must_match_images(tmp_path):
    write_idx_set(tmp_path)
    write_idx(tmp_path / "train-labels-idx1-ubyte.gz", np.zeros(5))
    with pytest.raises(DataError, match="5,\\) labels for 12 images"):
        load_dataset("mnist", tmp_path, download=False)


def test_image_size_must_match_the_dataset(tmp_path):
    write_idx_set(tmp_path, size=20)
    with pytest.raises(DataError, match=r"shape \(20, 20\), expected \(28, 28\)"):
        load_dataset("mnist", tmp_path, download=False)


def test_missing_data_without_download_says_which_files_where(tmp_path):
    with pytest.raises(DataError, match="train-images-idx3-ubyte.gz") as err:
        load_dataset("mnist", tmp_path, download=False)
    assert str(tmp_path) in str(err.value)


def test_failed_download_says_what_to_do_and_leaves_nothing(isolated_cache, monkeypatch):
    monkeypatch.delenv("VAE_DATA_DIR", raising=False)
    with pytest.raises(DataError, match="could not download fashion-mnist") as err:
        load_dataset("fashion-mnist")
    assert "t10k-labels-idx1-ubyte.gz" in str(err.value) and "VAE_DATA_DIR" in str(err.value)
    leftovers = [p for p in isolated_cache.rglob("*") if p.is_file()]
    assert leftovers == []


def test_unknown_dataset_and_missing_folder():
    with pytest.raises(DataError, match="unknown dataset 'cifar'.*digits, mnist"):
        load_dataset("cifar")
    with pytest.raises(DataError, match="does not exist"):
        load_dataset("mnist", "/nonexistent/folder", download=False)


def test_digits_is_the_offline_default_with_a_fixed_split(digits):
    assert digits.train_x.shape == (1497, 64) and digits.test_x.shape == (300, 64)
    assert 0 <= digits.train_x.min() and digits.train_x.max() == 1
    again = load_dataset("digits")
    assert torch.equal(again.test_x, digits.test_x) and torch.equal(again.train_y, digits.train_y)
    assert set(digits.test_y.tolist()) == set(range(10))


def test_binarize_draws_zeros_and_ones_with_the_pixel_as_probability():
    x = torch.full((200, 100), 0.3)
    b = binarize(x, torch.Generator().manual_seed(0))
    assert set(b.unique().tolist()) == {0.0, 1.0}
    assert abs(b.mean().item() - 0.3) < 0.01


@pytest.mark.slow
def test_real_mnist_from_the_shared_folder(mnist_dir):
    data = load_dataset("mnist", mnist_dir, download=False)
    assert data.train_x.shape == (60000, 784) and data.test_x.shape == (10000, 784)
    assert sorted(data.train_y.unique().tolist()) == list(range(10))
    assert sorted(data.test_y.unique().tolist()) == list(range(10))
    assert data.train_x.min() == 0 and data.train_x.max() == 1
