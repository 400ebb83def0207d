"""Issue 11 on the CLI: signals end a run with the right status and no temporary file, a run writes
one output per input, no output replaces a file it was not asked to, eval refuses to replace
earlier results, and sizes that cannot fit are refused before any work."""

import os
import re
import signal
import subprocess
import sys
import threading
import time

import pytest
from PIL import Image

from cli_helpers import files, hinr_process, photo, run, temp_files, tiny_weights


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    return tiny_weights(tmp_path_factory.mktemp("w"))


# --- signals ----------------------------------------------------------------------------------

class _Reader:
    """Reads a process's stream in a thread; ``wait_for(text)`` until it has appeared."""

    def __init__(self, stream) -> None:
        self.seen: list[str] = []
        self.thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self.thread.start()

    def _read(self, stream) -> None:
        while chunk := stream.read(1):
            self.seen.append(chunk)

    def wait_for(self, text: str, timeout: float) -> bool:
        end = time.monotonic() + timeout
        while time.monotonic() < end and self.thread.is_alive():
            if text in "".join(self.seen):
                return True
            time.sleep(0.1)
        return text in "".join(self.seen)

    def text(self) -> str:
        self.thread.join(timeout=30)
        return "".join(self.seen)


@pytest.mark.parametrize("signum, code, line", [
    (signal.SIGINT, 130, "hinr: interrupted"),
    (signal.SIGTERM, 143, "hinr: stopped by SIGTERM"),
    (signal.SIGHUP, 129, "hinr: stopped by SIGHUP"),
])
def test_signal_mid_render_exits_128_plus_signal(tmp_path, weights, signum, code, line):
    src = photo(tmp_path / "a.png")
    # FORCE_COLOR makes stderr count as a terminal, so the progress bar says when rendering runs
    proc = hinr_process("upscale", src, "--size", 3000, "-o", tmp_path / "big.png", "-w", weights,
                        env={"FORCE_COLOR": "1"}, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    stderr = _Reader(proc.stderr)
    try:
        assert stderr.wait_for("a.png →", timeout=120), stderr.text()
        proc.send_signal(signum)
        proc.wait(timeout=60)
    finally:
        proc.kill()
    rest = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", stderr.text())  # the bar's terminal codes
    assert proc.returncode == code, rest
    assert rest.strip().splitlines()[-1] == line
    assert "Traceback" not in rest
    assert files(tmp_path) == {"a.png"}  # no output and no temporary file


_SIGNAL_DURING_WRITE = """
import os, signal, sys
from pathlib import Path
import hinr.io.images
from hinr.cli.app import main

real = hinr.io.images.Image.Image.save

def save_then_signal(self, fp, *args, **kwargs):
    real(self, fp, *args, **kwargs)  # the temporary file is on disk now
    os.kill(os.getpid(), signal.{name})
    raise AssertionError("the signal was not delivered")

hinr.io.images.Image.Image.save = save_then_signal
sys.argv = ["hinr", *sys.argv[1:]]
main()
"""


@pytest.mark.parametrize("name, code", [("SIGTERM", 143), ("SIGHUP", 129)])
def test_signal_during_the_write_leaves_no_temporary_file(tmp_path, weights, name, code):
    src = photo(tmp_path / "a.png")
    result = subprocess.run([sys.executable, "-c", _SIGNAL_DURING_WRITE.replace("{name}", name),
                             "upscale", str(src), "--size", "64", "-o", str(tmp_path / "o.png"),
                             "-w", str(weights)],
                            capture_output=True, text=True, timeout=300,
                            env={**os.environ, "HINR_DEBUG": "0", "OMP_NUM_THREADS": "1"})
    assert result.returncode == code, result.stderr
    assert result.stderr.strip().splitlines() == [f"hinr: stopped by {name}"]
    assert temp_files(tmp_path) == [] and files(tmp_path) == {"a.png"}


def test_typer_exit_130_is_not_dropped(tmp_path, capsys, monkeypatch, weights):
    import hinr.inference.upscale

    def ctrl_c(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(hinr.inference.upscale, "upscale_image", ctrl_c)
    code, out, err = run(capsys, monkeypatch, "upscale", photo(tmp_path / "a.png"), "--size", 64,
                         "-o", tmp_path / "o.png", "-w", weights)
    assert (code, out, err.strip()) == (130, "", "hinr: interrupted")


# --- one output per input, never a clobbered file ----------------------------------------------

def test_clashing_output_names_still_give_one_output_per_input(tmp_path, capsys, monkeypatch, weights):
    (tmp_path / "x").mkdir()
    (tmp_path / "y").mkdir()
    inputs = [photo(tmp_path / "x" / "a.png", seed=1), photo(tmp_path / "y" / "a.png", seed=2),
              photo(tmp_path / "a-2.png", seed=3)]
    code, out, err = run(capsys, monkeypatch, "upscale", *inputs, "--size", 40, "-o",
                         tmp_path / "out", "-w", weights)
    assert code == 0, err
    written = out.split()
    assert written == [str(tmp_path / "out" / n) for n in ("a.png", "a-3.png", "a-2.png")]
    assert files(tmp_path / "out") == {"a.png", "a-2.png", "a-3.png"}
    # each input went to its own name: a-2.png is the upscaled a-2.png, not the second a.png
    for source, target in zip(inputs, written):
        expected = Image.open(source).resize((40, 40), Image.BICUBIC)
        diff = [abs(p - q) for p, q in zip(Image.open(target).tobytes(), expected.tobytes())]
        assert sum(diff) / len(diff) < 8


def test_a_file_that_appears_during_the_run_is_not_replaced(tmp_path, capsys, monkeypatch, weights):
    import hinr.io.images

    real = hinr.io.images.save_image
    target = tmp_path / "o.png"

    def someone_else_writes_first(path, *args, **kwargs):
        target.write_bytes(b"another run's result")
        return real(path, *args, **kwargs)

    monkeypatch.setattr(hinr.io.images, "save_image", someone_else_writes_first)
    code, out, err = run(capsys, monkeypatch, "upscale", photo(tmp_path / "a.png"), "--size", 64,
                         "-o", target, "-w", weights)
    assert code == 1 and out == "" and "--overwrite" in err and len(err.splitlines()) == 1, err
    assert target.read_bytes() == b"another run's result"
    assert temp_files(tmp_path) == []


def test_four_concurrent_runs_to_one_name_one_wins(tmp_path, weights):
    src = photo(tmp_path / "a.png")
    procs = [hinr_process("upscale", src, "--size", 400, "-o", tmp_path / "o.png", "-w", weights,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in range(4)]
    results = [(p.wait(timeout=600), p.stderr.read()) for p in procs]
    for p in procs:
        p.stdout.close()
        p.stderr.close()
    assert sorted(code for code, _ in results) == [0, 1, 1, 1], results
    errors = [[line for line in err.splitlines() if line.startswith("hinr:")] for code, err in results if code]
    assert all(len(lines) == 1 and "exists" in lines[0] for lines in errors), results  # (a slow run
    # also logs progress lines)
    assert files(tmp_path) == {"a.png", "o.png"}
    assert Image.open(tmp_path / "o.png").size == (400, 400)


def test_output_folder_with_trailing_slash(tmp_path, capsys, monkeypatch, weights):
    src = photo(tmp_path / "a.png")
    code, out, err = run(capsys, monkeypatch, "upscale", src, "--size", 40, "-o",
                         f"{tmp_path / 'newdir'}/", "-w", weights)
    assert code == 0, err
    assert out.strip() == str(tmp_path / "newdir" / "a.png")
    assert Image.open(tmp_path / "newdir" / "a.png").size == (40, 40)
    code, out, err = run(capsys, monkeypatch, "encode", src, "-o", f"{tmp_path / 'lat'}/", "-w", weights)
    assert (code, out.strip()) == (0, str(tmp_path / "lat" / "a.latents.safetensors")), err


# --- eval --out --------------------------------------------------------------------------------

def _eval_args(tmp_path, weights, out):
    data = tmp_path / "photos"
    data.mkdir(exist_ok=True)
    photo(data / "p.png", 96, 96)
    return ["eval", "--data", data, "--scales", 2, "-w", weights, "--out", out]


def test_eval_keeps_earlier_results_without_overwrite(tmp_path, capsys, monkeypatch, weights):
    out = tmp_path / "results"
    code, _, err = run(capsys, monkeypatch, *_eval_args(tmp_path, weights, out))
    assert code == 0, err
    assert {"results.json", "results.md", "grid.png"} <= files(out)
    (out / "results.json").write_text("earlier")
    import hinr.evaluation.evaluate

    def no_work(*args, **kwargs):
        raise AssertionError("the evaluation started")

    with monkeypatch.context() as patch:
        patch.setattr(hinr.evaluation.evaluate, "load_models", no_work)
        code, _, err = run(capsys, monkeypatch, *_eval_args(tmp_path, weights, out))
    assert code == 1 and len(err.strip().splitlines()) == 1 and "--overwrite" in err, err
    assert (out / "results.json").read_text() == "earlier"
    code, _, err = run(capsys, monkeypatch, *_eval_args(tmp_path, weights, out), "--overwrite")
    assert code == 0, err
    assert (out / "results.json").read_text() != "earlier"


def test_eval_unwritable_out_fails_before_work(tmp_path, capsys, monkeypatch, weights):
    import hinr.evaluation.evaluate

    def no_work(*args, **kwargs):
        raise AssertionError("the evaluation started")

    monkeypatch.setattr(hinr.evaluation.evaluate, "load_models", no_work)
    code, out, err = run(capsys, monkeypatch, *_eval_args(tmp_path, weights, "/proc/x"))
    assert code == 1 and out == "", err
    assert err.strip().splitlines() == [err.strip()] and "cannot write into /proc/x" in err


# --- memory -------------------------------------------------------------------------------------

def test_huge_chunk_is_capped_by_memory(tmp_path, capsys, monkeypatch, weights):
    import hinr.inference.upscale
    from hinr.inference.memory import CHUNK_BUDGET, bytes_per_query

    chunks = []
    real = hinr.inference.upscale.upscale_image

    def spy(*args, chunk, **kwargs):
        chunks.append(chunk)
        return real(*args, chunk=chunk, **kwargs)

    monkeypatch.setattr(hinr.inference.upscale, "upscale_image", spy)
    code, _, err = run(capsys, monkeypatch, "upscale", photo(tmp_path / "a.png"), "--size", 64,
                       "-o", tmp_path / "o.png", "-w", weights, "--chunk", 1_000_000_000)
    assert code == 0, err
    model_config = __import__("hinr").load_model(weights).config
    assert chunks and chunks[0] * bytes_per_query(model_config) <= CHUNK_BUDGET


@pytest.mark.parametrize("command", ["upscale", "render"])
def test_sizes_that_cannot_fit_are_refused_before_work(tmp_path, capsys, monkeypatch, weights, command):
    import hinr.inference.memory
    import hinr.inference.upscale

    def no_work(*args, **kwargs):
        raise AssertionError("the render started")

    src = photo(tmp_path / "a.png")
    if command == "render":
        assert run(capsys, monkeypatch, "encode", src, "-o", tmp_path / "l.safetensors", "-w", weights)[0] == 0
        args = ["render", tmp_path / "l.safetensors", "--size", "100000x90000"]
    else:
        args = ["upscale", src, "--size", "100000x90000", "--fit", "stretch"]
    monkeypatch.setattr(hinr.inference.upscale, "upscale_image", no_work)
    monkeypatch.setattr(hinr.inference.upscale, "render_latents", no_work)
    monkeypatch.setattr(hinr.inference.memory, "available_bytes", lambda: 64 * 2**30)
    before = files(tmp_path)
    code, out, err = run(capsys, monkeypatch, *args, "-o", tmp_path / "big.png", "-w", weights, "--force")
    assert code == 1 and out == "", err
    assert len(err.strip().splitlines()) == 1
    assert "100000x90000 needs about" in err and "GiB" in err and "smaller --size" in err
    assert files(tmp_path) == before


def test_the_memory_check_honours_process_and_cgroup_limits(tmp_path, monkeypatch):
    """Under `ulimit -v` or a container's memory.max the check must see the limit, not the
    machine's free memory (it passed, then the work died of 'out of memory' after a minute)."""
    import subprocess
    import sys

    import hinr.inference.memory as memory

    code = ("import resource; resource.setrlimit(resource.RLIMIT_AS, (3 * 2**30, resource.RLIM_INFINITY));"
            "from hinr.inference.memory import available_bytes; print(available_bytes())")
    left = int(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout)
    assert 0 < left < 3 * 2**30
    group = tmp_path / "cg" / "job"
    group.mkdir(parents=True)
    (group / "memory.max").write_text(f"{2**30}\n")
    (group / "memory.current").write_text(f"{2**28}\n")
    real_open = open
    monkeypatch.setattr("builtins.open", lambda path, *a, **k: real_open(
        tmp_path / "self_cgroup" if path == "/proc/self/cgroup" else path, *a, **k))
    (tmp_path / "self_cgroup").write_text("0::/job\n")
    assert memory._cgroup_left(str(tmp_path / "cg")) == 2**30 - 2**28
    (group / "memory.max").write_text("max\n")
    assert memory._cgroup_left(str(tmp_path / "cg")) is None
