"""Explanations of a sweep's result: how each hyperparameter acted, and why the chosen model predicts what it does.

Hyperparameters (from the trials, read back from MLflow): ``surrogate`` fits the GP ``bayes`` uses to the complete
trials, ``effects`` draws partial dependence (one parameter, and the top pairs) with credible bands and measures
interactions, ``ablation`` walks from the default configuration to the best one; ``hyper`` puts them together per
objective, ``hyper_figures`` draws them and ``sections`` hands them to the sweep's report.

The chosen model (a trial's refit model on its held-out test split): ``behaviour`` scores it (confusion matrix,
per-class precision/recall/F1, the most confused pairs, calibration; residuals for regression), ``attributions``
explains single predictions with Captum's integrated gradients, ``model_figures`` draws both; ``model`` loads a
logged trial's model and data, ``build`` writes and logs it (``python -m pipeline.explain RUN_ID``).
Importing this package imports nothing; Captum is imported only where attributions are computed.
"""
