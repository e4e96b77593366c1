"""Training: what turns a composed config and a data split into fitted models and scores, with no I/O.

``builders`` builds the model, optimizer, scheduler and loss from their ``_target_`` entries; ``batches``
makes mini-batches (in-memory tensors or a ``DataLoader``) with each fold's scaling; ``loop`` is the one
training loop; ``cv`` runs it per fold and for the refit; ``metrics`` scores a split; ``checks`` validates a
config before any run exists; ``progress`` shows the epochs on a terminal. Nothing here imports MLflow or
the sweeper: tracking and pruning are fold callbacks (``cv.FoldCallback``) handed in by ``pipeline.trial``.
"""
