"""The built-in text models: outputs per sample, and padding that changes nothing."""

from __future__ import annotations

import pytest
import torch

from pipeline.errors import ConfigError
from pipeline.sequence_models import rnn, textcnn


@pytest.mark.parametrize("factory, kwargs", [(rnn, {"cell": "gru"}), (rnn, {"cell": "lstm", "num_layers": 2}),
                                             (rnn, {"bidirectional": False}), (textcnn, {})])
def test_outputs_per_sample_and_padding_changes_nothing(factory, kwargs):
    torch.manual_seed(0)
    model = factory((12,), 3, vocab_size=50, padding_idx=0, **kwargs).eval()
    x = torch.tensor([[5, 6, 7, 0, 0], [8, 9, 10, 11, 12]])
    out = model(x)
    assert out.shape == (2, 3)
    longer = torch.cat([x, torch.zeros(2, 7, dtype=torch.long)], 1)
    assert torch.allclose(model(longer), out, atol=1e-5)  # lengths come from the padding
    alone = model(x[:1, :3])
    assert torch.allclose(alone, out[:1], atol=1e-5)


def test_a_text_model_refuses_data_that_is_not_token_ids():
    with pytest.raises(ConfigError, match="expected token ids"):
        rnn((1, 8, 8), 10)
    with pytest.raises(ConfigError, match=r"model.cell='rnn' is invalid"):
        rnn((12,), 2, vocab_size=10, cell="rnn")
