#!/bin/bash
# A reduced version of issue 25's RNN benchmark: bayes over the RNN's keys on the real corpus against its defaults.
cd /work/main
U=sqlite:////tmp/rnnb/store.db
mkdir -p /tmp/rnnb
COMMON="data=rotten_tomatoes data.subset=2000 preprocess=vocab model=rnn cv.folds=2 trainer.epochs=6 regularization.early_stopping.patience=2 tracking.uri=$U tracking.log_model=false"
start=$(date +%s)
.venv/bin/python train.py $COMMON tracking.experiment=rnn-defaults hydra.run.dir=/tmp/rnnb/default > /tmp/rnnb/default.log 2>&1
mid=$(date +%s)
.venv/bin/python train.py -m $COMMON tracking.experiment=rnn-bayes hydra/sweeper=bayes hydra.sweeper.n_trials=12 hydra.sweeper.n_initial=5 \
  'model.embedding_dim=tag(log, int(interval(16, 128)))' 'model.hidden_dim=tag(log, int(interval(16, 128)))' \
  'model.cell=choice(gru,lstm)' 'model.bidirectional=choice(false,true)' 'preprocess.max_vocab=tag(log, int(interval(1000, 20000)))' \
  'preprocess.max_length=tag(log, int(interval(16, 128)))' 'optimizer.lr=tag(log, interval(1e-4, 3e-2))' \
  'regularization.dropout=interval(0.0, 0.5)' hydra.sweeper.register_model=false hydra.sweeper.report=false \
  hydra.sweep.dir=/tmp/rnnb/sweep > /tmp/rnnb/sweep.log 2>&1
end=$(date +%s)
echo "default $((mid-start)) s, sweep $((end-mid)) s" > /tmp/rnnb/times.txt
