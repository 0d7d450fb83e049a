"""A user's own regression table at a size larger than the bundled sets: scikit-learn's
``make_regression`` (generated here, nothing downloaded), 30,000 rows of 24 features."""

from __future__ import annotations

import numpy as np


def regression_table() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import make_regression

    x, y = make_regression(n_samples=30_000, n_features=24, n_informative=12, noise=8.0, random_state=27)
    return x.astype(np.float32), ((y - y.mean()) / y.std()).astype(np.float32)
