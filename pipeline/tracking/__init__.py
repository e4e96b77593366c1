"""Tracking: the MLflow record of trials and sweeps.

``names`` owns every tag, metric, artifact and run name the record holds and the trial states; ``runs``
reads runs back (a sweep's children, a run's trial state); ``store`` resolves and opens the store;
``tracker`` writes one run in batches; ``sweep_run`` is a sweep's parent run; ``lease`` says which process
holds a sweep or a trial; ``callbacks`` record a trial's training as it runs. Only ``pipeline.objective``,
``pipeline.errors`` and ``pipeline.runtime`` are imported from the rest of the project.
"""
