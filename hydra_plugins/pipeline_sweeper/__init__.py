"""Hydra sweeper plugin: ``hydra/sweeper=grid|random|bayes|evolution`` over the project's ask/tell optimizers."""
