"""Training: the shared trainer and what it is built from (optimizers, initializers, tasks,
early stopping). Importing this package does not import torch; ``trainer`` does."""
