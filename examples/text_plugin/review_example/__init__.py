"""A text plug-in outside the pipeline: variable-length token sequences with their own collate, and a model the
factory sizes from the data's vocabulary (pipeline/contract.py)."""
