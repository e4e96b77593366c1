"""``python -m hydra_plugins.pipeline_sweeper._check_child <checker> [<checker> ...]``: run an app's validation on the
trial configs the sweeper composed (``_checks``), in a process of its own. It imports the first checker at once,
then reads the pickled ``[(label, config)]`` from stdin (none, on EOF: the sweeper did not need it). Each checker
runs on every config before the next is imported: a light first checker (values alone) answers in a second, before
a second one imports the app's heavy code (this project: ``validate``, then ``check`` with the data).

Prints ``<label>\t<message>`` and exits 2 at the first config a checker rejects; exits 0 when all pass.
"""

from __future__ import annotations

import pickle
import sys
import threading

from hydra.utils import get_method

from hydra_plugins.pipeline_sweeper._checks import trial_config
from pipeline.cli import one_line


def main(checkers: list[str]) -> int:
    received: list[bytes] = []
    reader = threading.Thread(target=lambda: received.append(sys.stdin.buffer.read()), daemon=True)
    reader.start()  # the sweeper's configs arrive while the first checker's code imports
    first = get_method(checkers[0])
    reader.join()
    if not received[0]:
        return 0
    configs = pickle.loads(received[0])
    for k, name in enumerate(checkers):
        check = first if k == 0 else get_method(name)
        for label, cfg in configs:
            try:
                check(trial_config(cfg))
            except Exception as e:  # noqa: BLE001 - whatever the app raises is its rejection
                print(f"{label}\t{one_line(e)}", flush=True)
                return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
