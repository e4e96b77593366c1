"""Feature engineering (``preprocess``): the built-in transforms equal scikit-learn's, are fitted on a fold's training
part only, size the model they feed, travel inside the served model and its checkpoint, and a model that cannot
take what they give is refused before any run."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from omegaconf import OmegaConf
from sklearn.decomposition import PCA
from sklearn.preprocessing import QuantileTransformer

from pipeline.errors import ConfigError
from pipeline.models import mlp
from pipeline.results.served import refit_checkpoint, served_from_checkpoint, served_from_fitted
from pipeline.training.batches import fold_scaling
from pipeline.training.builders import transform_fitter
from pipeline.training.cv import RefitResult
from pipeline.training.preprocess import pca, quantile

RNG = np.random.default_rng(0)
X = torch.as_tensor(np.column_stack([RNG.exponential(2.0, 400), RNG.normal(5, 3, 400), RNG.uniform(0, 1, 400)]),
                    dtype=torch.float32)


def test_quantile_maps_each_feature_to_a_normal_as_scikit_learn_does():
    ours = quantile(X.double(), n_quantiles=100)(X).numpy()
    theirs = QuantileTransformer(n_quantiles=100, output_distribution="normal").fit_transform(X.numpy())
    inside = np.abs(theirs) < 3  # both clip the tails, at slightly different points
    assert np.allclose(ours[inside], theirs[inside], atol=0.02)
    assert np.allclose(ours.mean(0), 0, atol=0.05) and np.allclose(ours.std(0), 1, atol=0.1)


@pytest.mark.parametrize("whiten", [False, True])
def test_pca_projects_as_scikit_learn_does(whiten):
    ours = pca(X, n_components=2, whiten=whiten)(X).numpy()
    theirs = PCA(n_components=2, whiten=whiten, svd_solver="full").fit_transform(X.numpy().astype(np.float64))
    assert ours.shape == (400, 2)
    assert np.allclose(np.abs(ours), np.abs(theirs), atol=1e-3)  # a component's sign is arbitrary


def test_a_transform_is_fitted_on_the_folds_training_part_only():
    from pipeline.contract import TensorData

    data = TensorData(X, torch.zeros(len(X), dtype=torch.long))
    train = np.arange(0, 200)
    entry = OmegaConf.create({"_target_": "pipeline.training.preprocess.pca", "_partial_": True, "n_components": 2})
    scaling = fold_scaling(data, train, "classification", True, fit_transform=transform_fitter(entry))
    standardised = (X[:200] - X[:200].mean(0)) / X[:200].std(0, unbiased=False)
    assert torch.allclose(scaling.transform.mean, standardised.mean(0), atol=1e-5)  # ~0: the fold's own statistics
    leaky = fold_scaling(data, np.arange(400), "classification", True, fit_transform=transform_fitter(entry))
    assert not torch.allclose(leaky.transform.components.abs(), scaling.transform.components.abs(), atol=1e-3)
    assert scaling.sample_shape((3,)) == (2,) and scaling.inputs(X[:5]).shape == (5, 2)


@pytest.mark.parametrize("kind", ["quantile", "pca"])
def test_the_served_model_and_its_checkpoint_carry_the_transform(kind, compose_cfg):
    from pipeline.training.batches import Scaling

    transform = quantile(X) if kind == "quantile" else pca(X, n_components=2)
    scaling = Scaling(X.mean(0, keepdim=True), X.std(0, keepdim=True), transform=transform)
    model = mlp(scaling.sample_shape((3,)), 4, hidden_dim=8)
    fitted = RefitResult(model, 2, {}, scaling, (3,), 4, "classification")
    cfg = compose_cfg(["model.hidden_dim=8", f"preprocess={kind}"])
    ckpt = torch.load(io.BytesIO(refit_checkpoint(fitted)), weights_only=True)
    served, rebuilt = served_from_fitted(fitted), served_from_checkpoint(cfg, ckpt)
    expected = model.eval()(scaling.inputs(X[:7]))
    assert torch.allclose(served(X[:7]), expected, atol=1e-5) and torch.allclose(rebuilt(X[:7]), expected, atol=1e-5)


def test_a_model_that_cannot_take_the_transformed_samples_is_refused_before_any_run(compose_cfg):
    from pipeline.data import load_data
    from pipeline.training.builders import check_parts

    cfg = compose_cfg(["model=cnn", "preprocess=pca", "data.subset=200"])
    with pytest.raises(ConfigError, match=r"model=cnn cannot take the data's samples of shape \(16,\).*preprocess=pca"):
        check_parts(cfg, load_data(cfg.data))
    check_parts(compose_cfg(["model=mlp", "preprocess=pca", "data.subset=200"]), load_data(cfg.data))


@pytest.mark.parametrize("bad, named", [
    ({"n_components": 0}, "preprocess.n_components=0"), ({"n_components": 99}, "preprocess.n_components=99"),
    ({"whiten": "yes"}, "preprocess.whiten='yes'"),
])
def test_bad_pca_settings_name_the_value(bad, named):
    with pytest.raises(ConfigError) as e:
        pca(X, **{"n_components": 2, **bad})
    assert named in str(e.value) and "expected" in str(e.value)


# -- token ids and waveforms ---------------------------------------------------------------------------------------
def test_a_fold_vocabulary_keeps_its_training_parts_frequent_words_only():
    import pytest

    from pipeline.errors import ConfigError
    from pipeline.training.preprocess import vocab

    train = torch.tensor([[1, 2, 2, 3, 0], [2, 3, 3, 3, 0], [4, 2, 0, 0, 0]])
    v = vocab(train, max_vocab=2, min_freq=2, max_length=4)
    assert v.model_args == {"vocab_size": 4, "padding_idx": 0}  # pad, unknown, the two kept words
    mapped = v(torch.tensor([[3, 2, 1, 9, 4, 2], [0, 0, 0, 0, 0, 0]]))
    # 2 and 3 (4 times each, in id order) kept as 2 and 3; 1 and 4 too rare and 9 never seen in training: unknown
    # (1); cut to 4 tokens; padding stays padding
    assert mapped.tolist() == [[3, 2, 1, 1], [0, 0, 0, 0]]
    with pytest.raises(ConfigError, match="takes token ids"):
        vocab(train.float())


def test_log_mel_bands_follow_pitch_and_are_standardised_on_the_fold():
    import math

    from pipeline.training.preprocess import logmel

    rate = 8000
    t = torch.arange(4000) / rate
    clips = torch.stack([torch.sin(2 * math.pi * f * t) for f in (200.0, 400.0, 1600.0, 3200.0)])[:, None]
    transform = logmel(clips, sample_rate=rate, n_mels=20, window_ms=32.0, hop_ms=16.0)
    out = transform(clips)
    assert out.shape[:3] == (4, 1, 20)
    loudest = out[:, 0].mean(-1).argmax(-1).tolist()
    assert loudest == sorted(loudest) and loudest[0] < loudest[-1]  # higher pitch, higher band
    assert abs(float(transform.log_mel(clips).mean((0, 2)).sub(transform.mean).abs().max())) < 1e-3
