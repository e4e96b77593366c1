"""Results: what a sweep leaves for people to use.

``served`` is the refit model as users load it; ``best_model`` logs the best trial's model; ``registry``
registers it and moves the alias; ``report`` writes the sweep's report from ``insights``; ``reproduce``
re-runs a logged trial. The commands keep their short names: ``python -m pipeline.report``,
``pipeline.registry`` and ``pipeline.reproduce`` run these modules.
"""
