"""GAN training core: two networks trained against each other, searched like any other model.

Files follow the data flow of one GAN trial:

- ``config``   — :class:`GANConfig`, the frozen trial config (losses, d_steps, both optimizers)
- ``mixtures`` — the seeded 2-D mode-collapse benchmarks ``ring8`` and ``grid25``
- ``networks`` — MLP generator and discriminator
- ``losses``   — non-saturating, hinge and WGAN-GP losses (and the gradient penalty)
- ``metrics``  — modes covered, high-quality share, Fréchet distance, class coverage
- ``features`` — the cached feature classifier for the Fréchet distance on non-2-D data
- ``collapse`` — divergence / collapse detection (pure, fed numbers)
- ``run``      — :class:`GANRun`: ``train_epoch()``, ``sample(n)``, ``state_dict()``
- ``cost``     — FLOPs per epoch from the per-sample forward FLOPs of G and D (pure)

Importing this package does not import torch; ``run``, ``networks``, ``losses`` and ``features`` do.
"""
