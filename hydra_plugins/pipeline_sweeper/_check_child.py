"""``python -m hydra_plugins.pipeline_sweeper._check_child <checker>``: run an app's validation on the trial
configs the sweeper composed (``_checks``), in a process of its own. It imports the checker at once, then reads
the pickled ``[(label, config)]`` from stdin (none, on EOF: the sweeper did not need it).

Prints ``<label>\\t<message>`` and exits 2 at the first config the checker rejects; exits 0 when all pass.
"""

from __future__ import annotations

import pickle
import sys
import threading

from hydra.utils import get_method

from hydra_plugins.pipeline_sweeper._checks import trial_config
from pipeline.cli import one_line


def main(checker: str) -> int:
    received: list[bytes] = []
    reader = threading.Thread(target=lambda: received.append(sys.stdin.buffer.read()), daemon=True)
    reader.start()  # the sweeper's configs arrive while the checker's code imports
    check = get_method(checker)
    reader.join()
    if not received[0]:
        return 0
    configs = pickle.loads(received[0])
    for label, cfg in configs:
        try:
            check(trial_config(cfg))
        except Exception as e:  # noqa: BLE001 - whatever the app raises is its rejection
            print(f"{label}\t{one_line(e)}", flush=True)
            return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
