"""What each dataset is (its name, image shape, class names and where it comes from), known without loading it:
the command line checks its flags with this before it imports torch."""
from __future__ import annotations

from dataclasses import dataclass

from .errors import DataError

DIGIT_CLASSES = tuple(str(i) for i in range(10))
FASHION_CLASSES = ("T-shirt", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Boot")
KMNIST_CLASSES = ("o", "ki", "su", "tsu", "na", "ha", "ma", "ya", "re", "wo")


@dataclass(frozen=True)
class DatasetSpec:
    name: str
    image_shape: tuple[int, int, int]   # (channels, height, width)
    classes: tuple[str, ...]
    torchvision_name: str | None        # class in torchvision.datasets that downloads it
    about: str


DATASETS = {
    "digits": DatasetSpec("digits", (1, 8, 8), DIGIT_CLASSES, None,
                          "scikit-learn's bundled 8x8 handwritten digits (1797 images), works offline"),
    "mnist": DatasetSpec("mnist", (1, 28, 28), DIGIT_CLASSES, "MNIST", "MNIST handwritten digits, 28x28"),
    "fashion-mnist": DatasetSpec("fashion-mnist", (1, 28, 28), FASHION_CLASSES, "FashionMNIST",
                                 "Zalando's Fashion-MNIST clothing images, 28x28"),
    "kmnist": DatasetSpec("kmnist", (1, 28, 28), KMNIST_CLASSES, "KMNIST", "Kuzushiji-MNIST cursive Japanese, 28x28"),
}


def get_spec(name: str) -> DatasetSpec:
    if name not in DATASETS:
        raise DataError(f"unknown dataset {name!r}; choose one of {', '.join(DATASETS)}")
    return DATASETS[name]
