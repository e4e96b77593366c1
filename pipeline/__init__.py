"""Experiment-tracked hyperparameter tuning: k-fold PyTorch training, MLflow tracking, search strategies."""
