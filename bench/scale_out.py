"""Scale-out benchmark (issue #7): sweep throughput with 1 and 2 joblib workers, and the per-trial cost of
an MLflow tracking server against direct SQLite.

(a) Throughput. The same random sweep (``hydra/sweeper=random``, default trial config and search space,
    sweeper seed 0, N trials, the end-of-sweep report and registry as configured) through
    ``hydra/launcher=local_parallel`` (joblib, loky), one ``python train.py -m`` subprocess per variant,
    each on a fresh SQLite store:

        1w-t1   1 worker  (hydra.launcher.n_jobs=1 hydra.sweeper.n_jobs=1), trainer.num_threads=1 (the default)
        2w-t1   2 workers (launcher and sweeper n_jobs=2), trainer.num_threads=1
        1w-t0   1 worker, trainer.num_threads=0 (torch's default: one thread per core)
        2w-t0   2 workers, trainer.num_threads=0 (left to loky's per-worker thread cap)

    Finished trials per minute = FINISHED child runs / wall time of the whole command (start-up, worker
    start and the parent run included). From the store: the span from the first trial's start to the last
    one's end, and worker utilisation = summed trial time / (workers x span), which shows what the
    sweeper's batch barrier (a batch ends when its slowest trial does) costs. Target: 2w-t1 >= 1.6x 1w-t1.

(b) Server vs SQLite. A real ``mlflow server`` (SQLite backend, artifacts served through it, started here
    and killed at the end) against a direct ``sqlite:///`` store: ``pipeline.trial.run_trial`` in this
    process on the default config, the two modes interleaved (the order alternates every repeat), after
    one untimed tiny warm-up trial each. Every public ``MlflowClient`` method, ``mlflow.pytorch.log_model``
    and ``requests.Session.request`` (the HTTP round trips of server mode) are wrapped here, never in
    pipeline/, to count calls and time per trial. Target: server within 5% of SQLite.

    python bench/scale_out.py                                   # N=6, variants 1w-t1 and 2w-t1, 3 trial repeats
    python bench/scale_out.py --trials 8 --variants 1w-t0,1w-t1,2w-t1,2w-t0 --sweep-repeats 2
    python bench/scale_out.py --skip-throughput --override trainer.epochs=10
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import signal
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.scale_common import RESULTS, VARIANTS, Report, load  # noqa: E402
from bench.scale_server import server_vs_sqlite  # noqa: E402
from bench.scale_throughput import throughput  # noqa: E402


# --------------------------------------------------------------------------------------------------
def _terminate(signum: int, frame: Any) -> None:
    raise SystemExit(f"stopped by signal {signum}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=6, help="trials per throughput sweep (default 6)")
    parser.add_argument("--variants", default="1w-t1,2w-t1", help=f"throughput variants, of {','.join(VARIANTS)}")
    parser.add_argument("--sweep-repeats", type=int, default=1, help="sweeps per variant (order rotated)")
    parser.add_argument("--repeats", type=int, default=3, help="timed trials per mode in (b)")
    parser.add_argument("--override", action="append", default=[], help="extra Hydra override for both parts")
    parser.add_argument("--server-workers", default=None, help="mlflow server --workers (default: MLflow's, 4)")
    parser.add_argument("--skip-throughput", action="store_true")
    parser.add_argument("--skip-server", action="store_true")
    parser.add_argument("--out", default=str(RESULTS), help=f"report file (default {RESULTS}; '' = none)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (stores, sweep logs)")
    args = parser.parse_args(argv)
    if unknown := set(args.variants.split(",")) - set(VARIANTS):
        parser.error(f"--variants: unknown {sorted(unknown)}; expected some of {sorted(VARIANTS)}")
    warnings.filterwarnings("ignore")
    logging.basicConfig(level=logging.WARNING)

    import torch

    out = Report(Path(args.out) if args.out else None)
    out(f"scale_out (issue #7)  {time.strftime('%Y-%m-%d %H:%M')}  cpus={os.cpu_count()}  torch {torch.__version__} "
        f"(default threads {torch.get_num_threads()})  python {sys.version.split()[0]}  load before: {load()}")
    tmp = Path(tempfile.mkdtemp(prefix="scale_out-"))
    signal.signal(signal.SIGTERM, _terminate)  # run the finally blocks: the server is stopped, tmp removed
    try:
        if not args.skip_throughput:
            (tmp / "a").mkdir()
            throughput(args, tmp / "a", out)
            out()
        if not args.skip_server:
            (tmp / "b").mkdir()
            server_vs_sqlite(args, tmp / "b", out)
        out(f"load after: {load()}")
    finally:
        out.save()
        if args.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
