"""Issue 14 on the CLI: the documented commands work verbatim (default outputs next to the input),
help has no type tokens and takes -h, progress bars end their line and count, and the evaluation
photos ship with the repo."""

import csv
import io
import re
import sys

import pytest
from PIL import Image

from cli_helpers import REPO, files, photo, run, tiny_weights
from hinr.store.shipped import SHIPPED


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    return tiny_weights(tmp_path_factory.mktemp("w"))


# --- the README's lines, verbatim, with the shipped weights -----------------------------------

def test_documented_commands_work_verbatim(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    photo(tmp_path / "img.png")
    photo(tmp_path / "wide.jpg", 32, 64)

    def hinr(line: str):
        return run(capsys, monkeypatch, *line.split()[1:])

    assert hinr("hinr upscale img.png --size 256")[:2] == (0, "img_256.png\n")
    assert Image.open("img_256.png").size == (256, 256)
    assert hinr("hinr upscale wide.jpg --size 256")[:2] == (0, "wide_256x128.jpg\n")
    assert Image.open("wide_256x128.jpg").size == (256, 128)
    assert hinr("hinr encode img.png")[:2] == (0, "img.latents.safetensors\n")
    assert hinr("hinr render img.latents.safetensors --res 128")[:2] == (0, "img_128.png\n")
    assert hinr("hinr encode img.png -o latents.safetensors")[0] == 0
    assert hinr("hinr render latents.safetensors --res 128")[:2] == (0, "latents_128.png\n")
    assert Image.open("latents_128.png").size == (128, 128)
    # several inputs: latents.safetensors beside the first; rendered one file per source
    assert hinr("hinr encode img.png wide.jpg -o many/latents.safetensors")[0] == 0
    assert hinr("hinr render many/latents.safetensors --res 64")[:2] == (
        0, "many/img_64.png\nmany/wide_64x32.png\n")  # each source's shape kept
    # an existing output still needs --overwrite, and the input is never the output
    code, out, err = hinr("hinr upscale img.png --size 256")
    assert code == 1 and out == "" and "--overwrite" in err
    assert hinr("hinr upscale img.png --size 256 --overwrite")[:2] == (0, "img_256.png\n")
    assert files(tmp_path) >= {"img.png", "wide.jpg", "img_256.png", "img.latents.safetensors"}


def test_render_one_latent_default_name(tmp_path, capsys, monkeypatch, weights):
    monkeypatch.chdir(tmp_path)
    photo(tmp_path / "a.png")
    assert run(capsys, monkeypatch, "encode", "a.png", "-o", "latents.safetensors", "-w", weights)[0] == 0
    code, out, err = run(capsys, monkeypatch, "render", "latents.safetensors", "--size", "64x48",
                         "-w", weights)
    assert (code, out) == (0, "latents_64x48.png\n"), err


def test_default_output_never_replaces_an_input(tmp_path, capsys, monkeypatch, weights):
    monkeypatch.chdir(tmp_path)
    photo(tmp_path / "a.png")
    # the same input twice gets two names, not one name written twice
    code, out, err = run(capsys, monkeypatch, "upscale", "a.png", "a.png", "--size", 40, "-w", weights)
    assert (code, out) == (0, "a_40.png\na_40-2.png\n"), err


# --- help --------------------------------------------------------------------------------------

@pytest.mark.parametrize("command", ["", "upscale", "encode", "render", "eval", "train", "models"])
def test_help_has_no_type_tokens_and_takes_h(capsys, monkeypatch, command):
    code, out, _ = run(capsys, monkeypatch, *command.split(), "-h")
    assert code == 0 and "Usage" in out
    assert not re.search(r"<(bool|str|int|float|path|Path|list\[)", out), out
    code, long_out, _ = run(capsys, monkeypatch, *command.split(), "--help")
    assert code == 0 and long_out == out


def test_version_and_completion(capsys, monkeypatch):
    code, out, _ = run(capsys, monkeypatch, "--version")
    assert code == 0 and re.fullmatch(r"hinr \d+\.\d+\.\d+\S*\n", out)
    code, out, _ = run(capsys, monkeypatch, "-h")
    assert "--install-completion" in out and "--show-completion" in out
    monkeypatch.setenv("_HINR_COMPLETE", "complete_bash")
    monkeypatch.setenv("COMP_WORDS", "hinr up")
    monkeypatch.setenv("COMP_CWORD", "1")
    code, out, _ = run(capsys, monkeypatch)
    assert (code, out.split()) == (0, ["upscale"])


# --- progress ----------------------------------------------------------------------------------

def _shared_terminal(monkeypatch):
    """stdout and every rich Console into one buffer, as on a terminal; bars shown at once."""
    import importlib

    import rich.console

    screen = io.StringIO()
    real = rich.console.Console

    def terminal(*args, **kwargs):
        kwargs.update(file=screen, force_terminal=True, width=100)
        kwargs.pop("stderr", None)
        return real(*args, **kwargs)

    monkeypatch.setattr(sys, "stdout", screen)
    monkeypatch.setattr(rich.console, "Console", terminal)
    try:
        monkeypatch.setattr(importlib.import_module("hinr.cli.console"), "DELAY_S", 0.0)
    except ImportError:
        pass  # a hinr whose bars show at once
    return screen


def _exit_code(main) -> int:
    try:
        main()
    except SystemExit as exit_:
        return exit_.code or 0
    return 0


def _lines(screen: io.StringIO) -> list[str]:
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", screen.getvalue())
    return [line.split("\r")[-1] for line in text.split("\n")]


def test_upscale_bar_ends_its_line_before_the_result(tmp_path, monkeypatch, weights):
    from hinr.cli.app import main

    screen = _shared_terminal(monkeypatch)
    out = tmp_path / "o.png"
    monkeypatch.setattr(sys, "argv", ["hinr", "upscale", str(photo(tmp_path / "a.png")), "--size", "300",
                                      "-o", str(out), "-w", str(weights), "--chunk", "2000"])
    assert _exit_code(main) == 0
    lines = _lines(screen)
    assert str(out) in lines, lines  # the result has a line of its own
    bar = lines[lines.index(str(out)) - 1]
    assert "a.png → 300×300" in bar and "100%" in bar  # the bar, finished, on the line before


def test_progress_bar_counts_and_waits(monkeypatch):
    from rich.console import Console

    from hinr.cli.console import progress_bar

    screen = io.StringIO()
    console = Console(file=screen, force_terminal=True, width=100)
    with progress_bar("evaluating", count=True, delay=0.0, console=console) as progress:
        for done in range(1, 6):
            progress(done, 5)
    assert "5/5" in _lines(screen)[-2] or any("5/5" in line for line in _lines(screen))
    quiet = io.StringIO()
    with progress_bar("short", delay=60.0, console=Console(file=quiet, force_terminal=True)) as progress:
        progress(1, 1)
    assert quiet.getvalue().strip("\x1b[?25lh\n") == ""  # a job under the delay shows no bar


def test_eval_bar_counts_images(tmp_path, monkeypatch, weights):
    from hinr.cli.app import main

    screen = _shared_terminal(monkeypatch)
    data = tmp_path / "photos"
    data.mkdir()
    for i in range(3):
        photo(data / f"p{i}.png", 64, 64, seed=i)
    monkeypatch.setattr(sys, "argv", ["hinr", "eval", "--data", str(data), "--scales", "2", "-w", str(weights)])
    assert _exit_code(main) == 0
    assert any("evaluating" in line and "3/3" in line for line in _lines(screen)), _lines(screen)


# --- the evaluation photos ship with the repo --------------------------------------------------

def test_val_photos_ship_with_the_repo():
    from hinr.data.folder import select_images

    folder = REPO / "examples" / "val_photos"
    with open(folder / "MANIFEST.tsv", newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t"))
    assert len(rows) == 8
    assert {"file", "source", "licence", "author", "split"} <= set(rows[0])
    assert all(row["split"] == "val" and row["source"] and row["licence"] for row in rows)
    paths = select_images(folder, split="val")
    assert len(paths) == 8
    assert sum(p.stat().st_size for p in folder.iterdir()) < 1.5e6
    for path in paths:
        assert max(Image.open(path).size) <= 512


def test_eval_runs_on_the_shipped_photos(tmp_path, capsys, monkeypatch, weights):
    code, out, err = run(capsys, monkeypatch, "eval", "--data", REPO / "examples" / "val_photos",
                         "--scales", "2", "--limit", "2", "-w", weights, "--out", tmp_path / "r")
    assert code == 0, err
    assert "bicubic" in out and (tmp_path / "r" / "results.json").is_file()


def test_models_lists_the_shipped_weights_first(capsys, monkeypatch):
    code, out, err = run(capsys, monkeypatch, "models")
    assert code == 0, err
    shipped, _, architectures = out.partition("architectures and presets")
    for name in ("default", "jpeg", "hybrid"):
        assert f"│ {name}" in shipped
    default = SHIPPED["default"]
    figure = f"{default.set5_x4:.2f} / {default.set14_x4:.2f}"
    assert "M │" in shipped and figure in shipped  # size and the standard-table figure
    assert "hybrid-v3" in architectures


def test_readme_states_the_shipped_figures():
    """The README's weights table gives the Set5 / Set14 ×4 figures the code ships with."""
    readme = (REPO / "README.md").read_text()
    for name, shipped in SHIPPED.items():
        if shipped.set5_x4 is not None:
            row = next(line for line in readme.splitlines() if line.startswith(f"| `{name}` |"))
            assert f"{shipped.set5_x4:.2f} / {shipped.set14_x4:.2f} dB" in row, row


@pytest.mark.parametrize("command", ["", "upscale", "encode", "render", "models", "average", "serve",
                                     "eval", "train"])
def test_help_fits_a_screen(capsys, monkeypatch, command):
    """Under 60 lines on an 80-column terminal: the options that say what is made first, speed
    and memory in a panel of their own, details in docs/cli.md."""
    monkeypatch.setenv("COLUMNS", "80")
    code, out, _ = run(capsys, monkeypatch, *command.split(), "--help")
    assert code == 0 and len(out.splitlines()) < 60, out
