"""Run a Hydra app in this process and write its wall time, CPU time and peak RSS as JSON (standard library only).

    python measure.py OUT.json APP.py [app arguments...]

The sweeper runs inside the app's process (Hydra's basic launcher runs the tasks there too; joblib's
workers are separate processes), so this process's peak RSS is the sweeper's. Optional profiling of
the whole run: ``MEASURE_CPROFILE=<file>`` writes cProfile stats there.
"""

from __future__ import annotations

import json
import os
import resource
import runpy
import sys
import time


def main() -> int:
    out, app, *args = sys.argv[1:]
    started = time.time()
    sys.argv = [app, *args]
    sys.path.insert(0, os.path.dirname(os.path.abspath(app)))
    profile_to = os.environ.get("MEASURE_CPROFILE")
    profiler = None
    if profile_to:
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
    code = 0
    try:
        runpy.run_path(app, run_name="__main__")
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    finally:
        if profiler is not None:
            profiler.disable()
            profiler.dump_stats(profile_to)
        usage = resource.getrusage(resource.RUSAGE_SELF)  # this process (all its threads), not its children
        with open(out, "w") as f:
            json.dump({"started": started, "ended": time.time(), "peak_rss_mb": usage.ru_maxrss / 1024,  # KiB on Linux
                       "cpu_s": usage.ru_utime + usage.ru_stime, "exit_code": code}, f)
    return code


if __name__ == "__main__":
    sys.exit(main())
