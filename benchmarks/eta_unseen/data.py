"""A user's own tabular data at a size larger than the bundled sets: scikit-learn's
``make_classification`` (generated here, nothing downloaded), 20,000 rows of 40 features, 5 classes."""

from __future__ import annotations

import numpy as np


def wide_table() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import make_classification

    x, y = make_classification(n_samples=20_000, n_features=40, n_informative=16, n_redundant=8, n_classes=5,
                               n_clusters_per_class=2, class_sep=0.8, random_state=7)
    return x.astype(np.float32), y.astype(np.int64)


def long_table() -> tuple[np.ndarray, np.ndarray]:
    """60,000 rows of 30 features, 6 classes: a search of minutes, not seconds (``long.toml``)."""
    from sklearn.datasets import make_classification

    x, y = make_classification(n_samples=60_000, n_features=30, n_informative=14, n_redundant=6, n_classes=6,
                               n_clusters_per_class=2, class_sep=0.7, random_state=11)
    return x.astype(np.float32), y.astype(np.int64)
