"""A user's own package, tuned by hpo-pipeline without touching it: a data entry and a model factory."""
