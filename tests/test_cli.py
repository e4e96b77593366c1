"""check_overrides: a malformed override, or a number given to a config group, is named; exit code 2."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.cli import check_overrides

CONF = Path(__file__).resolve().parents[1] / "conf"


def fails(argv, capsys) -> list[str]:
    """The stderr lines of a ``check_overrides`` that must exit with code 2."""
    with pytest.raises(SystemExit) as exit_info:
        check_overrides(argv, CONF)
    assert exit_info.value.code == 2
    out = capsys.readouterr()
    assert out.out == "" and "Traceback" not in out.err
    return out.err.splitlines()


@pytest.mark.parametrize("arg", ["model=[cnn", "optimizer.lr=interval(0.1", "a b=1", "model=cnn)"])
def test_syntax_error_names_the_override(arg, capsys):
    first, *rest = fails(["trainer.epochs=3", arg], capsys)
    assert first.startswith(f"Cannot parse the override {arg!r}: ")
    assert rest == ["See https://hydra.cc/docs/advanced/override_grammar/basic/ for the grammar."]


@pytest.mark.parametrize(("arg", "group", "value", "example"), [
    ("model=0", "model", "0", "model=cnn"),
    ("optimizer=1.5", "optimizer", "1.5", "optimizer=adam"),
    ("+model=0", "model", "0", "model=cnn"),
    ("model=cnn,0", "model", "0", "model=cnn"),            # a sweep over the group with one number in it
    ("model=choice(mlp,3)", "model", "3", "model=cnn"),
    ("hydra/launcher=1", "hydra/launcher", "1", "hydra/launcher=local_parallel"),
    ("hydra/job_logging=0", "hydra/job_logging", "0", "hydra/job_logging=NAME"),  # Hydra's own, not in conf/
])
def test_number_for_a_config_group_is_named_on_one_line(arg, group, value, example, capsys):
    lines = fails([arg], capsys)
    assert lines == [f"The override {arg!r} gives config group {group!r} the value {value}; "
                     f"expected the name of an option, e.g. {example}"]


@pytest.mark.parametrize("argv", [
    [],
    ["model=cnn", "optimizer=sgd", "trainer.epochs=3", "+tracking.tags.x=1"],
    ["model=cnn,mlp", "optimizer=choice(adam,sgd)", "hydra/launcher=local_parallel",
     "hydra/job_logging=disabled"],
    ["model.hidden_dim=0", "optimizer.lr=0.1", "data.subset=400"],  # numbers inside a group are values
    ["model=null"],
    ["~model", "~model=0", "~optimizer"],                           # deletes
    ["--config-name", "x", "model=cnn"],
    ["--config-dir", "/tmp/some dir", "-cn", "x", "--cfg", "job", "--package", "_global_", "cv.folds=2"],
    ["--config-name=x", "-m", "--multirun", "model=mlp"],
    ["--info", "config"],
    ["-m", "optimizer.lr=interval(0.0001,0.1)", "trainer.epochs=range(1,4)"],
])
def test_valid_command_lines_pass(argv, capsys):
    check_overrides(argv, CONF)
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize("argv", [
    ["--config-name", "x", "model=0"],  # a flag's value is skipped, not what follows it
    ["-cn", "x", "model=0"],
    ["-m", "model=0"],                  # flags without a value skip nothing
    ["--multirun", "model=0"],
    ["--config-name=x", "model=0"],
])
def test_only_a_flags_own_value_is_skipped(argv, capsys):
    assert fails(argv, capsys)[0].startswith("The override 'model=0' gives config group 'model'")


def test_a_flag_value_that_is_no_override_is_not_parsed(capsys):
    # without the skip these would be parse errors (no key=value) or a number for a group
    check_overrides(["--config-dir", "/not an/override", "--experimental-rerun", "/tmp/config.pickle"], CONF)
    assert capsys.readouterr().err == ""
    assert fails(["/not an/override"], capsys)[0].startswith("Cannot parse the override '/not an/override'")


EXITING = '''
import atexit, sys, threading, time
from concurrent.futures import ProcessPoolExecutor
from pipeline.cli import exit_now

pool = ProcessPoolExecutor(1)  # its manager thread ends only when the interpreter's exit hooks shut it down
pool.submit(abs, -1).result()

class Held:
    def __del__(self):
        print("torn down", flush=True)

held = Held()  # a normal exit frees it while tearing the interpreter down
atexit.register(lambda: open(sys.argv[1] + ".atexit", "w").write("ran"))
threading.Thread(target=lambda: (time.sleep(0.5), open(sys.argv[1] + ".thread", "w").write("done"))).start()
sys.stdout.write("last line, not flushed")
exit_now(int(sys.argv[2]))
'''


@pytest.mark.parametrize("code", [0, 5])
def test_exit_now_waits_for_threads_runs_atexit_and_skips_the_teardown(tmp_path, code):
    import subprocess
    import sys

    script = tmp_path / "exiting.py"
    script.write_text(EXITING)
    stamp = tmp_path / "stamp"
    done = subprocess.run([sys.executable, str(script), str(stamp), str(code)], capture_output=True, text=True,
                          cwd=Path(__file__).resolve().parents[1], timeout=120)  # a hang would be the bug
    assert done.returncode == code and done.stdout == "last line, not flushed", done.stdout + done.stderr
    assert (tmp_path / "stamp.atexit").read_text() == "ran" and (tmp_path / "stamp.thread").read_text() == "done"


def test_a_rerun_command_carries_config_folders_and_module_path_absolute(tmp_path):
    from pipeline.cli import TrialFormatter, rerun_command

    command = rerun_command("/repo/train.py", ["model=gru", "data.note=a b"], ["file://conf", "pkg://my.conf"],
                            cwd=str(tmp_path), pythonpath=".:/abs/lib")
    assert command == (f"PYTHONPATH={tmp_path}:/abs/lib python /repo/train.py model=gru 'data.note=a b' "
                       f"'hydra.searchpath=[file://{tmp_path}/conf,pkg://my.conf]'")
    assert rerun_command("train.py", ["x=1"]) == "python train.py x=1"  # nothing of its own: as typed
    assert TrialFormatter("[{trial}] %(message)s", job=7)._fmt == "[trial-007] %(message)s"
    assert TrialFormatter("[{trial}] %(message)s", job=None, format="hydra's")._fmt == "[-] %(message)s"


def test_the_trials_reproduce_command_follows_its_job(tmp_path):
    import json

    from pipeline.tracking.store import PROJECT_ROOT
    from pipeline.trial import reproduce_command

    overrides = ["model=gru", "tracking.uri=sqlite:////x.db", "tracking.run_id='abc'", "tracking.trial_number=3"]
    assert reproduce_command(overrides) == "python train.py model=gru"  # the sweeper's keys left out
    job = {"searchpath": json.dumps([f"file://{tmp_path}/conf"]), "pythonpath": str(tmp_path)}
    assert reproduce_command(overrides, job) == (f"PYTHONPATH={tmp_path} python {PROJECT_ROOT / 'train.py'} "
                                                 f"model=gru 'hydra.searchpath=[file://{tmp_path}/conf]'")
