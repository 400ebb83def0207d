"""OpenMP's wait policy: passive beside other running work, OpenMP's own on a quiet computer, the
user's own value always (hinr.threads)."""

from __future__ import annotations

import os
import subprocess
import sys
import time

from hinr import threads


def test_passive_when_other_tasks_run_and_openmps_own_when_quiet(monkeypatch):
    monkeypatch.setattr(threads, "cpus_elsewhere", lambda: 0)
    monkeypatch.setattr(threads, "INTERVAL_S", 0.0)
    assert threads.others_busy(lambda: 2)  # this process and one other
    assert not threads.others_busy(lambda: 1)  # only this one
    queue = iter([1, 2, 1, 1, 1])  # another task seen once in five reads: a blip, not a load
    assert not threads.others_busy(lambda: next(queue))
    assert threads.others_busy(lambda: None)  # not known: the policy that is safe when busy
    env: dict[str, str] = {}
    assert threads.choose_wait_policy(env, busy=lambda: True) == "PASSIVE" == env["OMP_WAIT_POLICY"]
    env = {}
    assert threads.choose_wait_policy(env, busy=lambda: False) is None and env == {}


def test_cpus_this_process_may_not_use_do_not_count_as_busy(monkeypatch):
    monkeypatch.setattr(threads, "INTERVAL_S", 0.0)
    monkeypatch.setattr(threads, "cpus_elsewhere", lambda: 8)  # a container with 8 of 16 CPUs
    assert not threads.others_busy(lambda: 5)
    assert threads.others_busy(lambda: 10)


def test_the_users_own_setting_wins():
    for key, value in (("OMP_WAIT_POLICY", "ACTIVE"), ("GOMP_SPINCOUNT", "1000")):
        env = {key: value}
        assert threads.choose_wait_policy(env, busy=lambda: True) is None and env == {key: value}


def test_import_hinr_sets_passive_beside_a_busy_process():
    """Before torch loads, in a fresh interpreter, with a busy loop beside it (Linux)."""
    if threads.running_tasks() is None:
        return
    code = "import hinr, os; print(os.environ.get('OMP_WAIT_POLICY'))"
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")}
    busy = [subprocess.Popen([sys.executable, "-c", "while True: pass"])
            for _ in range(1 + threads.cpus_elsewhere())]
    try:
        time.sleep(0.3)
        out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                             check=True).stdout.strip()
    finally:
        for job in busy:
            job.kill()
            job.wait()
    assert out == "PASSIVE"
    out = subprocess.run([sys.executable, "-c", code], env={**env, "OMP_WAIT_POLICY": "ACTIVE"},
                         capture_output=True, text=True, check=True).stdout.strip()
    assert out == "ACTIVE"


def test_hinr_serve_waits_passively_even_when_started_on_a_quiet_computer(monkeypatch):
    """A server outlives the quiet moment it started in (before torch loads, in its command)."""
    from typer.testing import CliRunner

    import hinr.cli.serve_runner
    from hinr.cli.app import app

    seen = {}
    monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
    monkeypatch.delenv("GOMP_SPINCOUNT", raising=False)
    monkeypatch.setattr(hinr.cli.serve_runner, "run_serve",
                        lambda **_: seen.update(policy=os.environ.get("OMP_WAIT_POLICY")))
    assert CliRunner().invoke(app, ["serve", "--port", "0"]).exit_code == 0
    assert seen == {"policy": "PASSIVE"}
