"""Issue 12 on the CLI: one size rule and one device rule in the library, no import circle in
hinr/cli, and errors reported by kind: HinrError as one line with its exit code, anything else as
a bug with a "please report" line (the traceback only under HINR_DEBUG)."""

import ast
from pathlib import Path

import pytest
import torch

from cli_helpers import REPO, photo, run, tiny_weights
from hinr.errors import HinrError, HinrUsageError


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    return tiny_weights(tmp_path_factory.mktemp("w"))


# --- one size rule, one device rule -------------------------------------------------------------

@pytest.mark.parametrize("size, scale, expected", [
    ("256", None, (256, 128)),  # N: the longer side, aspect kept
    ("90x40", None, (80, 40)),  # WxH: fitted inside, aspect kept (--fit contain)
    (None, 2.5, (160, 80)),  # K times the input
    (None, 0.001, (1, 1)),  # never below one pixel
])
def test_target_size(size, scale, expected):
    from hinr.inference.sizes import target_size

    assert target_size(64, 32, size=size, scale=scale) == expected


@pytest.mark.parametrize("size, scale, force", [
    (None, None, False), ("64", 2.0, False), ("0", None, False), ("ax3", None, False),
    (None, float("nan"), False), (None, -1.0, False), ("20000", None, False),
])
def test_target_size_refuses_bad_options(size, scale, force):
    from hinr.inference.sizes import target_size

    with pytest.raises(HinrUsageError):
        target_size(64, 32, size=size, scale=scale, force=force)


def test_one_device_rule(monkeypatch):
    from hinr.device import DeviceUnavailableError, resolve_device

    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("AUTO").type in ("cpu", "cuda")
    with pytest.raises(HinrUsageError, match="--device"):
        resolve_device("tpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("auto") == torch.device("cpu")
    for name in ("cuda", "cuda:1"):
        with pytest.raises(DeviceUnavailableError, match="--device cpu"):
            resolve_device(name)


def test_the_cli_uses_the_library_rules(tmp_path, capsys, monkeypatch, weights):
    import hinr.device

    asked = []
    real = hinr.device.resolve_device
    monkeypatch.setattr(hinr.device, "resolve_device", lambda name: asked.append(name) or real(name))
    src = photo(tmp_path / "a.png", 32, 64)
    code, _, err = run(capsys, monkeypatch, "upscale", src, "--size", 100, "-o", tmp_path / "o.png",
                       "-w", weights, "--device", "cpu")
    assert code == 0, err
    assert asked == ["cpu"]
    from PIL import Image

    from hinr.inference.sizes import target_size
    assert Image.open(tmp_path / "o.png").size == target_size(64, 32, size="100")


# --- no import circle ---------------------------------------------------------------------------

def _imports(path: Path, package: str) -> set[str]:
    """Modules of ``package`` that the file imports, at any depth (function-level imports too)."""
    found = set()
    module = f"{package}.{path.stem}"
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.rsplit(".", node.level)[0]
                target = f"{base}.{node.module}" if node.module else base
                names = [f"{target}.{alias.name}" for alias in node.names]
            else:
                target, names = node.module or "", []
            for candidate in [target, *names]:
                if candidate.startswith(package + ".") and candidate.count(".") == package.count(".") + 1:
                    found.add(candidate)
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith(package + ".")}
    return found - {module}


def test_cli_import_graph_has_no_cycle():
    package = "hinr.cli"
    folder = REPO / "hinr" / "cli"
    modules = {f"{package}.{p.stem}" for p in folder.glob("*.py") if p.stem != "__init__"}
    graph = {f"{package}.{p.stem}": _imports(p, package) & modules
             for p in folder.glob("*.py") if p.stem != "__init__"}
    assert graph[f"{package}.app"], "the parser found no import in app.py"
    visiting, done = [], set()

    def visit(node):
        if node in done:
            return
        assert node not in visiting, f"import circle: {' → '.join(visiting[visiting.index(node):] + [node])}"
        visiting.append(node)
        for nxt in sorted(graph[node]):
            visit(nxt)
        visiting.pop()
        done.add(node)

    for node in sorted(graph):
        visit(node)


# --- errors by kind -------------------------------------------------------------------------------

def test_cli_errors_are_hinr_errors():
    from hinr.cli.errors import RuntimeFailure, UsageError

    assert issubclass(UsageError, HinrUsageError) and UsageError.exit_code == 2
    assert issubclass(RuntimeFailure, HinrError) and RuntimeFailure.exit_code == 1


@pytest.mark.parametrize("error, code, line", [
    (HinrError("the photo is bad: pass another"), 1, "hinr: error: the photo is bad: pass another"),
    (HinrUsageError("--size is bad"), 2, "hinr: error: --size is bad"),
    (MemoryError(), 1, "hinr: error: out of memory: choose a smaller --size, or a smaller --chunk or "
     "--batch-size"),
    (RuntimeError("[enforce fail at alloc_cpu.cpp:117] DefaultCPUAllocator: can't allocate memory: you "
                  "tried to allocate 120000000000 bytes"), 1,
     "hinr: error: out of memory: choose a smaller --size, or a smaller --chunk or --batch-size"),
    (ZeroDivisionError("division by zero"), 1,
     "hinr: internal error: ZeroDivisionError: division by zero — please report it at the hinr "
     "issue tracker; HINR_DEBUG=1 shows the traceback"),
])
def test_errors_reported_by_kind(tmp_path, capsys, monkeypatch, weights, error, code, line):
    import hinr.inference.upscale

    def fail(*args, **kwargs):
        raise error

    monkeypatch.setattr(hinr.inference.upscale, "upscale_image", fail)
    args = ("upscale", photo(tmp_path / "a.png"), "--size", 64, "-o", tmp_path / "o.png", "-w", weights)
    got, out, err = run(capsys, monkeypatch, *args)
    assert (got, out, err.strip().splitlines()) == (code, "", [line])
    got, _, err = run(capsys, monkeypatch, *args, debug=True)
    assert got == code and "Traceback" in err and err.strip().splitlines()[-1] == line


def test_known_library_errors_stay_user_errors(tmp_path, capsys, monkeypatch, weights):
    from hinr.store.checkpoint import CheckpointError
    import hinr.inference.upscale

    def fail(*args, **kwargs):
        raise CheckpointError("weights x are broken: pass others")

    monkeypatch.setattr(hinr.inference.upscale, "upscale_image", fail)
    code, _, err = run(capsys, monkeypatch, "upscale", photo(tmp_path / "a.png"), "--size", 64, "-o",
                       tmp_path / "o.png", "-w", weights)
    assert (code, err.strip()) == (1, "hinr: error: weights x are broken: pass others")


def test_progress_off_a_terminal_is_plain_lines(monkeypatch):
    """Piped or logged (`hinr upscale … 2> log`), progress is a line every few seconds with its
    share done and the time left, not a silence of minutes."""
    import io

    from rich.console import Console

    import hinr.cli.console as console_module

    clock = [100.0]
    monkeypatch.setattr(console_module.time, "monotonic", lambda: clock[0])
    sink = io.StringIO()
    console = Console(file=sink, force_terminal=False)
    with console_module.progress_bar("photo.jpg → 1920×1080", console=console) as progress:
        for done in range(0, 101, 10):
            clock[0] += 2.0  # 2 s a tenth: a line every 5 s once 1 s has passed
            progress(done, 100)
    lines = sink.getvalue().splitlines()
    assert 3 <= len(lines) <= 5 and all(line.startswith("photo.jpg → 1920×1080: ") for line in lines)
    assert "%" in lines[0] and "s left" in lines[-1]


def test_an_absurd_scale_is_a_usage_error():
    from hinr.errors import HinrUsageError
    from hinr.inference.sizes import check_size_options

    with pytest.raises(HinrUsageError, match="too large"):
        check_size_options(None, 1e308)
