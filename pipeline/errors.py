"""Errors with messages meant for the person at the terminal."""

from __future__ import annotations


class ConfigError(ValueError):
    """A configuration value is invalid; raised before anything is written to MLflow."""


class DataError(RuntimeError):
    """A dataset cannot be loaded (missing files with download off, unreadable files)."""


class TrackingError(RuntimeError):
    """The MLflow tracking store cannot be reached or used."""


class NonFiniteLossError(RuntimeError):
    """Training produced a NaN or infinite loss; the trial is failed."""
