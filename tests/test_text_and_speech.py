"""Text and speech end to end, as a user runs them: a sweep of the RNN on the real review corpus (token ids kept as
integers under the default normalisation), a speech run on clips the test writes, and the logged models loaded
with MLflow's pyfunc and fed what the data gives (token ids, waveforms)."""

from __future__ import annotations

import mlflow
import numpy as np
import pytest
import torch

from tests.conftest import SWEEP_FAST, run_train, sweep_runs
from tests.data.test_audio import write_tones

pytestmark = pytest.mark.slow


def test_a_text_sweep_on_real_reviews_logs_a_model_that_takes_token_ids(tmp_path, new_store):
    uri = new_store(tmp_path / "store")
    fast = [a for a in SWEEP_FAST if not a.startswith(("cv.refit", "tracking.log_", "hydra.sweeper.reg",
                                                        "data.subset"))]
    proc = run_train(["-m", *fast, "data=rotten_tomatoes", "data.subset=300", "preprocess=vocab", "model=rnn",
                      "model.hidden_dim=16", "model.embedding_dim=16", "hydra/sweeper=random",
                      "hydra.sweeper.n_trials=2", "preprocess.max_vocab=choice(200,2000)",
                      "hydra.sweeper.model_name=reviews", f"tracking.uri={uri}"], tmp_path)
    assert proc.returncode == 0, proc.stderr[-4000:]
    parent, children = sweep_runs(uri)
    assert parent.info.status == "FINISHED" and all(c.data.tags["trial.state"] == "complete" for c in children)
    sizes = {c.data.params["preprocess.max_vocab"]: c.data.metrics["n_params"] for c in children}
    assert sizes["200"] < sizes["2000"]  # the fold vocabulary sizes the embedding
    mlflow.set_tracking_uri(uri)
    model = mlflow.pyfunc.load_model("models:/reviews@champion")
    ids = np.array([[3, 17, 25, 0, 0], [8, 9, 0, 0, 0]], dtype=np.int64)
    out = np.asarray(model.predict(ids))
    assert out.shape == (2, 2) and np.isfinite(out).all()
    net = mlflow.pytorch.load_model("models:/reviews@champion")
    assert torch.allclose(net(torch.as_tensor(ids)), torch.as_tensor(out), atol=1e-5)
    with pytest.raises(Exception, match="expected integer token ids"):
        model.predict(ids + 0.5)


def test_a_speech_run_on_clips_logs_a_model_that_takes_waveforms(tmp_path, new_store):
    uri = new_store(tmp_path / "store")
    clips = write_tones(tmp_path / "clips", classes=(300.0, 900.0, 2000.0), per_class=8)
    proc = run_train(["data=audio_folder", f"data.path={clips}", "data.sample_rate=8000", "data.duration=0.4",
                      "preprocess=logmel", "preprocess.n_mels=16", "model=cnn", "model.channels=4",
                      "model.num_conv_layers=1", "model.hidden_dim=16", "trainer.epochs=8", "cv.folds=2",
                      f"tracking.uri={uri}"], tmp_path)
    assert proc.returncode == 0, proc.stderr[-4000:]
    from mlflow.tracking import MlflowClient

    [run] = MlflowClient(uri).search_runs(["0", "1"])
    assert run.data.metrics["cv_val_accuracy_mean"] > 0.6
    mlflow.set_tracking_uri(uri)
    model = mlflow.pyfunc.load_model(f"runs:/{run.info.run_id}/model")
    waves = np.random.default_rng(0).normal(size=(3, 1, 3200)).astype(np.float32) * 0.1
    assert np.asarray(model.predict(waves)).shape == (3, 3)
