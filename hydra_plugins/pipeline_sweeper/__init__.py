"""Hydra sweeper plugin: ``hydra/sweeper=grid|random|bayes`` over the project's ask/tell optimizers."""
