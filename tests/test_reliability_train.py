"""Reliability of training (issue 11, issue 14): options validated before any work, one training
per run folder, checkpoints consistent as a whole, a diverged run stopped with its last good
checkpoint, one-line errors for damaged run files, and the CLI's defaults and progress."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file

from hinr import load_model
from hinr.errors import HinrError, HinrUsageError
from hinr.train import TrainConfig, Trainer

TINY = dict(preset="tiny", batch_size=1, queries=16, val_images=1, val_every=1000, save_every=2,
            hr_size=64)


def photos(root: Path, n: int = 3) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for i in range(n):
        Image.fromarray(rng.integers(0, 255, (72, 72, 3), dtype=np.uint8)).save(root / f"p{i}.png")
    return root


def config(tmp_path, **change) -> TrainConfig:
    return TrainConfig(data=str(photos(tmp_path / "photos")), **{**TINY, "steps": 4, **change})


class Stop(Exception):
    pass


def stop_at(step):
    def on_step(m):
        if m["step"] == step:
            raise Stop
    return on_step


# --- options: validated before anything --------------------------------------------------------

@pytest.mark.parametrize("change", [
    dict(steps=0), dict(epochs=0.0), dict(epochs=float("nan")), dict(lr=float("inf")),
    dict(lr=float("nan")), dict(val_every=0), dict(save_every=0), dict(batch_size=0),
    dict(warmup=-1), dict(clip=0.0), dict(ema=1.0), dict(recon_weight=float("inf")),
    dict(steps=2.5), dict(queries=True), dict(device="tpu"),
    dict(model_overrides={"residual": True, "base_skip": True}),  # no such model
    dict(model_overrides={"no_such_field": 1}),
])
def test_bad_training_options_are_usage_errors(change):
    with pytest.raises(HinrUsageError) as info:
        TrainConfig(**change)
    assert "\n" not in str(info.value)


def _cli(*args, cwd):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HINR_DATA_DIR": str(cwd / "no-data"),
           "XDG_CACHE_HOME": str(cwd / "cache")}
    return subprocess.run([sys.executable, "-m", "hinr.cli.app", *args], capture_output=True,
                          text=True, cwd=cwd, env=env, timeout=300)


@pytest.mark.parametrize("args, flag", [
    (["--steps", "0"], "--steps"), (["--epochs", "nan"], "--epochs"), (["--lr", "inf"], "--lr"),
    (["--val-every", "0"], "--val-every"), (["--save-every", "0"], "--save-every"),
])
def test_cli_refuses_bad_options_before_loading_data(tmp_path, args, flag):
    result = _cli("train", "--data", "cifar10", "--out", "run", *args, cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert flag in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "run").exists() and not (tmp_path / "cache").exists()


def test_training_device_names_follow_the_one_device_rule():
    from hinr.device import DEVICE_NAMES

    assert TrainConfig(device="mps").device == "mps"  # a name --device accepts everywhere
    with pytest.raises(HinrUsageError, match=DEVICE_NAMES):
        TrainConfig(device="cuda1")


def test_defaults_are_the_best_recipe_and_base_stays_the_design():
    from hinr.cli.errors import UsageError
    from hinr.cli.train_runner import TrainOptions, config_from_options

    def sr(**options):  # super-resolution training on a photo folder
        return TrainOptions(data="photos", hr_size=256, **options)

    recipe = config_from_options(sr()).model_overrides
    assert recipe == {"residual": True, "locality": True, "cell_input": True, "local_pixels": 8,
                      "lp_placement": "interleave"}
    assert config_from_options(sr(preset="base")).model_overrides == {}
    given = config_from_options(sr(lp_placement="append", residual=False, local_pixels=0))
    assert given.model_overrides == {**recipe, "lp_placement": "append", "residual": False,
                                     "local_pixels": 0}
    assert config_from_options(sr(preset="base", locality=True)).model_overrides == {
        "locality": True}
    # --base-skip replaces the recipe's residual; both given is refused before any data loads
    skip = config_from_options(sr(base_skip=True)).model_overrides
    assert skip["base_skip"] is True and skip["residual"] is False
    with pytest.raises(UsageError, match="choose one"):
        config_from_options(sr(base_skip=True, residual=True))


def test_reconstruction_recipe_goes_through_the_latents():
    from hinr.cli.errors import UsageError
    from hinr.cli.train_runner import TrainOptions, config_from_options

    # CIFAR-10 (the default data) and a folder without --hr-size: no bicubic residual, no pixel taps
    for options in (TrainOptions(), TrainOptions(data="photos")):
        recipe = config_from_options(options).model_overrides
        assert recipe["residual"] is False and recipe["local_pixels"] == 0
    for options in (TrainOptions(residual=True), TrainOptions(data="photos", residual=True)):
        with pytest.raises(UsageError, match="--residual at scale 1"):
            config_from_options(options)


# --- one training per run folder ---------------------------------------------------------------

def test_a_second_training_in_the_same_folder_is_refused(tmp_path):
    from hinr.train.lock import RunFolderBusyError

    first = Trainer(config(tmp_path), tmp_path / "run")
    with pytest.raises(RunFolderBusyError, match="in use by another hinr train"):
        Trainer(config(tmp_path), tmp_path / "run")
    first.fit()
    trained = load_model(tmp_path / "run")
    assert trained.config == first.model.config  # the first training's model, complete
    assert torch.equal(next(trained.parameters()), next(first.model.parameters()).cpu())
    with pytest.raises(HinrUsageError, match="not empty"):  # free again, but it holds a run
        Trainer(config(tmp_path), tmp_path / "run")


def test_concurrent_cli_trainings_to_one_folder(tmp_path):
    """Two processes: the lock dies with its process, so the test holds it from a child."""
    run = tmp_path / "run"
    holder = subprocess.Popen([sys.executable, "-c", (
        "import sys, time; from hinr.train.lock import RunLock; RunLock(sys.argv[1]); "
        "print('held', flush=True); time.sleep(60)"), str(run)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        result = _cli("train", "--data", str(photos(tmp_path / "photos")), "--out", str(run),
                      "--steps", "1", cwd=tmp_path)
        assert result.returncode == 1 and "in use by another hinr train" in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1
    finally:
        holder.kill()
        holder.wait()
    assert sorted(p.name for p in run.iterdir()) == [".lock"]  # nothing written by the refused run


# --- checkpoints consistent as a whole ----------------------------------------------------------

def _stopped_run(tmp_path, at=3):
    with pytest.raises(Stop):
        Trainer(config(tmp_path), tmp_path / "run").fit(stop_at(at))
    return tmp_path / "run"


def test_resume_drops_metrics_rows_past_the_checkpoint(tmp_path):
    run = _stopped_run(tmp_path)  # checkpoint at 2, metrics rows 1..3
    assert [r["step"] for r in map(json.loads, (run / "metrics.jsonl").read_text().splitlines())] == [1, 2, 3]
    Trainer(TrainConfig.load(run / "train_config.json"), run, resume=True).fit()
    steps = [r["step"] for r in map(json.loads, (run / "metrics.jsonl").read_text().splitlines())]
    assert steps == [1, 2, 3, 4]


def test_torn_checkpoint_is_repaired_from_the_manifest(tmp_path):
    """Killed after the weights of step 4 were written but before its trainer state."""
    run = _stopped_run(tmp_path)
    manifest = json.loads((run / "checkpoint.json").read_text())
    assert manifest["step"] == 2 and set(manifest["files"]) == {"model.safetensors",
                                                                "trainer_state.safetensors"}
    state = load_file(str(run / "trainer_state.safetensors"))
    other = load_model(run)
    with torch.no_grad():
        for p in other.parameters():
            p.add_(1.0)
    from hinr import save_model

    save_model(other, run, overwrite=True)  # the weights of a later step
    Trainer(TrainConfig.load(run / "train_config.json"), run, resume=True)
    repaired = load_model(run).state_dict()
    assert all(torch.equal(repaired[k], state[f"model.{k}"]) for k in repaired)


def test_state_newer_than_manifest_is_taken_older_is_refused(tmp_path):
    from hinr.train.manifest import CheckpointMismatchError

    run = _stopped_run(tmp_path)
    manifest = json.loads((run / "checkpoint.json").read_text())
    (run / "checkpoint.json").write_text(json.dumps({**manifest, "step": 0, "files": {}}))
    trainer = Trainer(TrainConfig.load(run / "train_config.json"), run, resume=True)
    assert trainer.step == 2 and json.loads((run / "checkpoint.json").read_text())["step"] == 2
    trainer.close()
    (run / "checkpoint.json").write_text(json.dumps({**manifest, "step": 9, "files": {}}))
    with pytest.raises(CheckpointMismatchError, match="step 9"):
        Trainer(TrainConfig.load(run / "train_config.json"), run, resume=True)


# --- a diverged run stops, keeping the last good checkpoint ------------------------------------

def test_non_finite_loss_stops_training_and_keeps_the_last_good_checkpoint(tmp_path):
    from hinr.train.trainer import TrainingDivergedError

    trainer = Trainer(config(tmp_path, steps=6), tmp_path / "run")
    forward = trainer.net.forward

    def poisoned(*args, **kwargs):
        out = forward(*args, **kwargs)
        return out * float("nan") if trainer.step == 2 else out  # the third step diverges

    trainer.net.forward = poisoned
    with pytest.raises(TrainingDivergedError, match="step 3.*last good checkpoint \\(step 2\\)"):
        trainer.fit()
    weights = load_model(tmp_path / "run")  # loads: all finite
    assert json.loads((tmp_path / "run" / "checkpoint.json").read_text())["step"] == 2
    assert all(torch.isfinite(p).all() for p in trainer.model.parameters())
    assert all(torch.isfinite(p).all() for p in weights.parameters())  # the step-2 weights


# --- damaged run files: one line naming the file -----------------------------------------------

def test_truncated_trainer_state_is_named(tmp_path):
    run = _stopped_run(tmp_path)
    state = run / "trainer_state.safetensors"
    state.write_bytes(state.read_bytes()[:1000])
    with pytest.raises(HinrError, match="trainer_state.safetensors is corrupt or truncated") as info:
        Trainer(TrainConfig.load(run / "train_config.json"), run, resume=True)
    assert "\n" not in str(info.value)


def test_corrupt_train_config_is_named(tmp_path):
    run = _stopped_run(tmp_path)
    (run / "train_config.json").write_text('{"steps": 4,')
    with pytest.raises(HinrError, match="train_config.json cannot be read"):
        TrainConfig.load(run / "train_config.json")
    (run / "train_config.json").write_text('{"steps": 0}')
    with pytest.raises(HinrError, match="train_config.json holds invalid settings"):
        TrainConfig.load(run / "train_config.json")


def test_config_that_no_longer_matches_the_state_is_named(tmp_path):
    run = _stopped_run(tmp_path)
    cfg = TrainConfig.load(run / "train_config.json")
    cfg.model_overrides = {"local_pixels": 4}
    with pytest.raises(HinrError, match="does not match the model train_config.json describes"):
        Trainer(cfg, run, resume=True)


# --- progress and plot -------------------------------------------------------------------------

def test_cli_without_a_terminal_prints_plain_progress(tmp_path):
    result = _cli("train", "--data", str(photos(tmp_path / "photos")), "--out", "run", "--steps", "2",
                  "--hr-size", "64", "--batch-size", "1", "--queries", "16", "--val-every", "1",
                  cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    err = result.stderr
    assert "loading 3 photos" in err and "loss nan" not in err
    assert "shorter than the warm-up" in err  # --steps 2 < the default 100 warm-up steps
    assert "step 2/2  loss" in err and "val " in err
    assert result.stdout.strip() == "run"


def test_cli_names_the_architecture_of_the_init_weights(tmp_path):
    """--init-from takes the model from the weights: the header says which, not the --arch default."""
    from hinr import HINR, preset, save_model

    init = save_model(HINR(preset("tiny", arch="liif", decoder_depth=1)), tmp_path / "liif.safetensors")
    result = _cli("train", "--data", str(photos(tmp_path / "photos")), "--out", "run", "--steps", "1",
                  "--warmup", "1", "--hr-size", "64", "--batch-size", "1", "--queries", "16",
                  "--init-from", str(init), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert f"hinr train liif from {init}" in " ".join(result.stderr.split())
    assert load_model(tmp_path / "run").config.arch == "liif"


def test_metrics_plot_shows_a_single_validation_point(tmp_path):
    from hinr.train.plot import plot_metrics

    plot_metrics([{"step": 5, "loss": 0.01, "val_psnr": 21.5}], tmp_path / "m.png")
    pixels = np.asarray(Image.open(tmp_path / "m.png").convert("RGB")).astype(int)
    panel = pixels[265:510, 10:710]  # the validation panel
    blue = (panel[..., 2] > 150) & (panel[..., 0] < 100)
    assert blue.sum() > 10


def test_missing_cuda_is_a_hinr_error(monkeypatch):
    from hinr.train.trainer import resolve_device

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    for name in ("cuda", "cuda:1"):
        with pytest.raises(HinrError, match="--device cpu"):
            resolve_device(name)


def test_bf16_on_a_cpu_that_emulates_it_is_warned_about(monkeypatch):
    import torch

    from hinr import precision
    from hinr.cli.train_runner import emulated_bf16_warning

    cpu = torch.device("cpu")
    monkeypatch.setattr(precision, "native_bf16", lambda device: False)
    assert "drop --bf16" in emulated_bf16_warning(True, cpu)
    assert emulated_bf16_warning(False, cpu) is None
    monkeypatch.setattr(precision, "native_bf16", lambda device: True)
    assert emulated_bf16_warning(True, cpu) is None


def test_sigterm_checkpoints_then_exits_143(tmp_path):
    """`hinr train … && next` must not go on after a killed run: SIGTERM saves the step it is on,
    says how to resume, and exits 128 + 15."""
    import signal
    import time

    from cli_helpers import photo

    data = tmp_path / "photos"
    data.mkdir()
    for i in range(3):
        photo(data / f"p{i}.png", 64, 64, seed=i)
    out = tmp_path / "run"
    hinr = Path(sys.executable).with_name("hinr")
    proc = subprocess.Popen([str(hinr), "train", "--data", str(data), "--arch", "liif", "--preset", "tiny",
                             "--hr-size", "64", "--steps", "100000", "--batch-size", "2", "--queries", "64",
                             "--save-every", "100000", "--val-every", "100000", "--out", str(out)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "OMP_NUM_THREADS": "1"})
    deadline = time.monotonic() + 120
    while not (out / "metrics.jsonl").is_file() and time.monotonic() < deadline:
        time.sleep(0.2)
    time.sleep(1.0)
    proc.send_signal(signal.SIGTERM)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 143, stderr
    assert "--resume" in stderr and stderr.strip().splitlines()[-1] == "hinr: stopped by SIGTERM"
    assert json.loads((out / "checkpoint.json").read_text())["step"] >= 1
