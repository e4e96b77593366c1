"""The plug-in contract: what a data entry returns, and what a model factory receives. One place, with types.

Everything the pipeline trains is built by ``hydra.utils.instantiate`` from a config entry's ``_target_``,
the built-in MLP, CNN, datasets and optimizers included (lightning-hydra-template's way):

* **Data entry** (``conf/data/<name>.yaml``): ``_target_`` names a callable, called with the entry's
  other keys, that returns a ``DataSplit``. Built-ins: ``pipeline.data.digits``, ``mnist``,
  ``fashion_mnist``, ``cifar10``, ``image_folder``.
* **Model factory** (``conf/model/<name>.yaml``, ``_partial_: true``): ``_target_`` names a callable that is
  called as ``factory(input_shape=..., num_outputs=...)`` on top of the entry's keys and returns a
  ``torch.nn.Module`` mapping a batch ``(N, *input_shape)`` to ``(N, num_outputs)`` (raw scores: logits
  for classification, values for regression). ``input_shape`` is one sample's shape (``(C, H, W)`` for
  images, ``(F,)`` for tables, ``(L,)`` for a sequence of token ids); ``num_outputs`` is the number of
  classes, or of regression targets. The factory also receives what the data says the model needs
  (``DataSplit.model_args``: ``vocab_size`` and ``padding_idx`` of token ids), updated by a fitted
  ``preprocess`` transform (a fold's vocabulary), when its signature names them (or takes ``**kwargs``).
  Built-ins: ``pipeline.models.mlp``, ``cnn``, ``net``, ``rnn``, ``textcnn``.
* **Optimizer** (``conf/optimizer/<name>.yaml``, ``_partial_: true``): any ``torch.optim`` class (or your
  own), called with the model's parameters. **Scheduler** (``conf/scheduler/<name>.yaml``, ``_partial_:
  true``): any ``torch.optim.lr_scheduler`` class, called with the optimizer and stepped once per epoch
  (``ReduceLROnPlateau`` with ``cv.metric``'s validation value). **Loss** (``loss``, optional): any
  module called as ``loss(outputs, targets)``; by default cross-entropy (with
  ``regularization.label_smoothing``) for classification, mean squared error for regression.

A part of the data (``train`` or ``test``) is either in memory, a ``TensorData`` (the fast path: batches
are slices of tensors already on the device), or any map-style ``torch.utils.data.Dataset`` whose items
are ``(x, y)`` pairs of tensors (or what ``torch.as_tensor`` takes), read through a ``DataLoader``: data
that does not fit in memory. Folds are index subsets of ``train``; normalisation statistics come from each
fold's training part (streamed through the loader for a dataset); ``train_transform`` (augmentation) is
applied to the training samples of a dataset only, never to validation or test samples.

**Any input dtype, sequences.** Inputs keep their dtype: integer inputs (token ids) are never normalised nor cast
(``trainer.normalize`` standardises floating inputs only), float64 becomes float32. Samples of unequal shapes
(sentences, clips) or inputs that are tuples or mappings of tensors need ``DataSplit.collate``, a function
turning a list of ``(x, y)`` items into a batch ``(inputs, targets)`` (``pad_collate`` pads sequences to the
longest of the batch); without one, the data is refused before the first trial in one line naming the fix.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Union

import torch

from pipeline.errors import ConfigError

Task = Literal["classification", "regression"]
TASKS = ("classification", "regression")


@dataclass
class TensorData:
    """An in-memory part: ``X`` ``(N, *input_shape)``, float (features, pixels, waveforms) or integer (token ids,
    padded); ``y`` int64 labels ``(N,)`` (classification) or float targets ``(N,)`` / ``(N, T)`` (regression)."""

    X: torch.Tensor
    y: torch.Tensor

    def __len__(self) -> int:
        return len(self.y)


Part = Union[TensorData, "torch.utils.data.Dataset[Any]"]


@dataclass
class DataSplit:
    """What a data entry returns.

    ``train`` is what cross-validation and the refit use; ``test`` is held out and scored once, by the
    refit model. ``targets``: the labels of ``train`` (int64 ``(N,)``), for stratified folds and the class
    count; taken from a ``TensorData``'s ``y`` or a dataset's ``targets`` attribute when not given.
    ``num_outputs`` and ``input_shape`` are derived from the data when not given, and ``input_dtype`` always
    (None for tuple or mapping inputs). ``collate``: how a list of items becomes a batch, for samples of unequal
    shapes or structured inputs (see the module's docstring). ``model_args``: more keyword arguments the model
    factory receives when it names them (``vocab_size``, ``padding_idx``). ``class_names`` and ``tokens`` are only
    read by explanations (``pipeline.explain``): labels and token ids are shown by name where an entry gives them.
    """

    train: Part
    test: Part
    task: Task = "classification"
    num_outputs: int | None = None
    input_shape: tuple[int, ...] | None = None
    targets: torch.Tensor | None = None
    train_transform: Callable[[torch.Tensor], torch.Tensor] | None = None
    name: str = ""
    collate: Callable[[Sequence[Any]], tuple[Any, torch.Tensor]] | None = None
    model_args: dict[str, Any] = field(default_factory=dict)
    input_dtype: torch.dtype | None = None
    class_names: tuple[str, ...] = ()  # classification: each class's name, by label (explanations show them)
    tokens: tuple[str, ...] = ()       # token ids: the word of each id (explanations highlight words, not ids)

    @property
    def in_memory(self) -> bool:
        return isinstance(self.train, TensorData) and isinstance(self.test, TensorData)


def checked(split: Any, entry: str) -> DataSplit:
    """``split`` with its derived fields filled in; a ``ConfigError`` naming ``entry`` when it breaks the contract."""
    if not isinstance(split, DataSplit):
        raise ConfigError(f"data._target_={entry!r} returned {type(split).__name__}; expected a "
                          "pipeline.contract.DataSplit")
    if split.task not in TASKS:
        raise ConfigError(f"data._target_={entry!r} returned task={split.task!r}; expected one of {TASKS}")
    for name in ("train", "test"):
        part = getattr(split, name)
        if not isinstance(part, TensorData) and not _is_dataset(part):
            raise ConfigError(f"data._target_={entry!r}: {name} is a {type(part).__name__}; expected a "
                              "TensorData or a map-style torch.utils.data.Dataset")
        if len(part) < 2:
            raise ConfigError(f"data._target_={entry!r}: {name} has {len(part)} samples; expected at least 2")
        if not isinstance(part, TensorData):
            _check_item(part, name, entry, split.collate is not None)
    first = _first_input(split.train)
    if split.input_dtype is None and isinstance(first, torch.Tensor):
        split.input_dtype = torch.float32 if first.is_floating_point() else first.dtype
    if split.input_shape is None:
        if not isinstance(first, torch.Tensor):
            raise ConfigError(f"data._target_={entry!r}: its inputs are {type(first).__name__}s; expected "
                              "DataSplit(input_shape=...) beside a collate for structured inputs")
        split.input_shape = tuple(int(d) for d in first.shape)
    if not split.input_shape:
        raise ConfigError(f"data._target_={entry!r}: samples are scalars; expected each sample to have a shape, "
                          "(F,) for F features or (C, H, W) for images")
    if split.task == "classification":
        if split.targets is None:
            split.targets = _labels(split.train, entry)
        split.targets = torch.as_tensor(split.targets, dtype=torch.int64)
        if split.num_outputs is None:
            split.num_outputs = int(split.targets.max()) + 1
    elif split.num_outputs is None:
        y = split.train.y[0] if isinstance(split.train, TensorData) else torch.as_tensor(split.train[0][1])
        split.num_outputs = max(1, y.numel())  # one target sample: a scalar, or a vector of T targets
    if split.num_outputs < 1:
        raise ConfigError(f"data._target_={entry!r}: num_outputs={split.num_outputs}; expected >= 1")
    return split


SHAPE_PROBE = 32  # items of a dataset whose shapes are compared before the first trial


def _check_item(part: Any, name: str, entry: str, collated: bool) -> None:
    """The items are ``(x, y)`` pairs; without a collate, ``x`` is a tensor and the first items agree in shape."""
    try:
        x, _ = part[0]
    except (TypeError, ValueError, RuntimeError):
        raise ConfigError(f"data._target_={entry!r}: the items of {name} are not (x, y) pairs of tensors; expected "
                          "a map-style dataset whose items are (input, target)") from None
    if collated:
        return
    if isinstance(x, (tuple, list, Mapping)) and not _tensor_like(x):
        raise ConfigError(f"data._target_={entry!r}: the inputs of {name} are {type(x).__name__}s of tensors; "
                          "expected a tensor per sample, or DataSplit(collate=...) that batches them")
    try:
        shapes = {tuple(torch.as_tensor(part[i][0]).shape) for i in range(min(SHAPE_PROBE, len(part)))}
    except (TypeError, ValueError, RuntimeError):
        raise ConfigError(f"data._target_={entry!r}: the items of {name} are not (x, y) pairs of tensors; expected "
                          "a map-style dataset whose items are (input tensor, target)") from None
    if len(shapes) > 1:
        shown = ", ".join(str(s) for s in sorted(shapes)[:3])
        raise ConfigError(f"data._target_={entry!r}: the samples of {name} have different shapes ({shown}); "
                          "expected equal shapes, or DataSplit(collate=pipeline.contract.pad_collate) (or your own "
                          "collate) to batch them")


def _tensor_like(x: Any) -> bool:
    try:
        torch.as_tensor(x)
    except (TypeError, ValueError, RuntimeError):
        return False
    return True


def pad_collate(items: Sequence[tuple[Any, Any]], padding_value: float = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """A batch of variable-length sequences ``(L_i, ...)``, padded with ``padding_value`` at the end to the longest
    one; integer inputs stay integer. A model finds each sequence's length from its padding (``padding_idx``)."""
    xs, ys = zip(*items)
    x = torch.nn.utils.rnn.pad_sequence([torch.as_tensor(v) for v in xs], batch_first=True,
                                        padding_value=padding_value)
    y = torch.stack([torch.as_tensor(v) for v in ys])
    return (x.float() if x.is_floating_point() else x), y


def _is_dataset(part: Any) -> bool:
    return hasattr(part, "__getitem__") and hasattr(part, "__len__")


def _first_input(part: Part) -> Any:
    if isinstance(part, TensorData):
        return part.X[0]
    x = part[0][0]
    return torch.as_tensor(x) if _tensor_like(x) and not isinstance(x, Mapping) else x


def _labels(part: Part, entry: str) -> torch.Tensor:
    if isinstance(part, TensorData):
        return part.y
    targets = getattr(part, "targets", None)
    if targets is None:
        raise ConfigError(f"data._target_={entry!r}: a classification dataset needs its labels, for stratified "
                          "folds: give DataSplit(targets=...) or a dataset with a `targets` attribute")
    return torch.as_tensor(targets)
