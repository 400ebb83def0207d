"""Training end to end on tiny data: CIFAR format, image folders, resume, DDP, bad data, overfitting."""

import os
import subprocess
import sys
import tarfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file

from hinr import load_model
from hinr.store.checkpoint import read_metadata
from hinr.train import TrainConfig, Trainer

TINY = dict(preset="tiny", batch_size=2, queries=64, val_images=2, val_every=1000, save_every=1000)


def photo_folder(root: Path, n: int = 3, size: int = 80) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:size, 0:size]
    for i in range(n):
        base = np.stack([xx * 3 + i * 20, yy * 3, (xx + yy) * 2], -1) + rng.integers(0, 30, (size, size, 3))
        Image.fromarray(np.clip(base, 0, 255).astype(np.uint8)).save(root / f"p{i}.png")
    return root


def extracted_cifar(fake_cifar, tmp_path) -> Path:
    archive, _ = fake_cifar
    with tarfile.open(archive) as tar:
        tar.extractall(tmp_path / "cifar", filter="data")
    return tmp_path / "cifar"


def test_trains_from_cifar_format_and_checkpoint_loads(fake_cifar, tmp_path):
    data_dir = extracted_cifar(fake_cifar, tmp_path)
    cfg = TrainConfig(data="cifar10", data_dir=str(data_dir), steps=3, **TINY)
    last = Trainer(cfg, tmp_path / "run").fit()
    assert np.isfinite(last["loss"]) and "val_psnr" in last
    model = load_model(tmp_path / "run")
    assert model.render(model.encode(torch.rand(1, 3, 32, 32)), 48, 48).shape == (1, 3, 48, 48)
    for name in ("model.safetensors", "trainer_state.safetensors", "metrics.jsonl", "metrics.png",
                 "train_config.json"):
        assert (tmp_path / "run" / name).is_file(), name


def test_trains_super_resolution_from_a_folder(tmp_path):
    folder = photo_folder(tmp_path / "photos")
    cfg = TrainConfig(data=str(folder), steps=2, hr_size=64, recon_weight=0.5,
                      model_overrides={"residual": True, "locality": True, "local_pixels": 4}, **TINY)
    last = Trainer(cfg, tmp_path / "run").fit()
    assert "val_bicubic_psnr" in last
    assert load_model(tmp_path / "run").config.residual
    # the weights name their data, not the trainer's directory layout
    assert read_metadata(tmp_path / "run" / "model.safetensors")["train_data"] == "photos"


@pytest.mark.parametrize("name", ["rot90", "rgb_permute"])
def test_crop_augmentations_reach_the_sampler_and_need_super_resolution(tmp_path, name):
    from hinr.errors import HinrUsageError
    from hinr.train.samples import build_train_data

    folder = photo_folder(tmp_path / "photos")
    for on in (False, True):
        train, _ = build_train_data(TrainConfig(data=str(folder), hr_size=64, **{name: on}, **TINY))
        assert getattr(train.config, name) is on
    flag = name.replace("_", "-")
    with pytest.raises(HinrUsageError, match=f"--{flag} needs super-resolution"):
        TrainConfig(data=str(folder), **{name: True}, **TINY)
    with pytest.raises(HinrUsageError, match=f"--{flag} must be true or false"):
        TrainConfig(data=str(folder), hr_size=64, **{name: "yes"}, **TINY)


def test_max_zoom_caps_the_zoom_of_the_training_crops(tmp_path):
    from hinr.errors import HinrUsageError
    from hinr.train.samples import build_train_data

    folder = photo_folder(tmp_path / "photos")
    train, _ = build_train_data(TrainConfig(data=str(folder), hr_size=64, **TINY))
    assert train.config.random_downscale is None  # the sampler's own range, as before the option
    train, _ = build_train_data(TrainConfig(data=str(folder), hr_size=64, max_zoom=0.5, **TINY))
    assert train.config.random_downscale == (1e-6, 0.5)  # what the sampler test below checks
    for bad in (0.0, 1.5):
        with pytest.raises(HinrUsageError, match="--max-zoom must be in"):
            TrainConfig(data=str(folder), hr_size=64, max_zoom=bad, **TINY)
    with pytest.raises(HinrUsageError, match="--max-zoom needs super-resolution"):
        TrainConfig(data=str(folder), max_zoom=0.5, **TINY)


def test_input_size_trains_a_whole_image_model_on_larger_inputs(tmp_path):
    """--input-size 48 (LIIF's training input): the sampler hands the model 48×48 inputs, a liif
    run trains on them and saves a model that still reads any size; a model that reads only 32×32,
    or reconstruction, or an input larger than the HR crop, is refused before any file is written."""
    from hinr.errors import HinrUsageError
    from hinr.train.samples import build_train_data, batch_for_step

    folder = photo_folder(tmp_path / "photos", size=120)
    liif = dict(data=str(folder), arch="liif", hr_size=96, recon_weight=0.25, **TINY)
    train, val = build_train_data(TrainConfig(input_size=48, **liif))
    batch = batch_for_step(train, seed=0, step=0, rank=0, batch_size=2)
    assert batch["input"].shape == (2, 3, 48, 48)
    assert val[0]["input"].shape[-1] == 32  # validation stays at the model's own side
    last = Trainer(TrainConfig(input_size=48, steps=2, **liif), tmp_path / "run").fit()
    assert np.isfinite(last["loss"])
    model = load_model(tmp_path / "run")
    assert model.config.image_size == 32 and model.config.whole_image
    # hybrid-v2 trains on them too (a convolutional stem, a scan as long as the input), and
    # still upscales through its own 32×32 tiles; its 2×2 patches need an even side
    hybrid = dict(data=str(folder), arch="hybrid-v2", hr_size=96, model_overrides={"residual": False},
                  **TINY)
    last = Trainer(TrainConfig(input_size=48, steps=2, **hybrid), tmp_path / "hybrid").fit()
    assert np.isfinite(last["loss"])
    model = load_model(tmp_path / "hybrid")
    assert model.config.image_size == 32 and not model.config.whole_image
    with pytest.raises(HinrUsageError, match="not a multiple of hybrid-v2's 2×2 patches: use 48"):
        TrainConfig(input_size=47, **hybrid)
    with pytest.raises(HinrUsageError, match="--input-size 48 needs a model that encodes images of any size"):
        TrainConfig(data=str(folder), arch="hybrid", hr_size=96, input_size=48, **TINY)
    with pytest.raises(HinrUsageError, match="--input-size needs super-resolution"):
        TrainConfig(data=str(folder), arch="liif", input_size=48, **TINY)
    with pytest.raises(HinrUsageError, match="--input-size 128 is larger than --hr-size 96"):
        TrainConfig(input_size=128, **liif)
    # from weights that read 32×32 only: refused after they load, and the run folder is not left
    Trainer(TrainConfig(data=str(folder), steps=1, hr_size=64, **TINY), tmp_path / "small").fit()
    with pytest.raises(HinrUsageError, match="needs a model that encodes images of any size"):
        Trainer(TrainConfig(data=str(folder), hr_size=96, input_size=48,
                            init_from=str(tmp_path / "small"), **TINY), tmp_path / "refused")
    assert not (tmp_path / "refused").exists()


def test_epochs_set_the_step_count(tmp_path):
    folder = photo_folder(tmp_path / "photos", n=4)
    cfg = TrainConfig(data=str(folder), epochs=1.0, val_fraction=0.25, **{**TINY, "batch_size": 1})
    trainer = Trainer(cfg, tmp_path / "run")
    assert trainer.cfg.steps == 3  # 3 training images after one is held out for validation


def test_resume_matches_an_uninterrupted_run(tmp_path):
    folder = photo_folder(tmp_path / "photos")
    common = dict(data=str(folder), steps=6, hr_size=64, seed=3, ema=0.9,
                  model_overrides={"residual": True, "locality": True}, **{**TINY, "save_every": 3})
    Trainer(TrainConfig(**common), tmp_path / "full").fit()

    class Stop(Exception):
        pass

    def stop_at_3(m):
        if m["step"] == 3:
            raise Stop

    with pytest.raises(Stop):
        Trainer(TrainConfig(**common), tmp_path / "split").fit(stop_at_3)
    Trainer(TrainConfig.load(tmp_path / "split" / "train_config.json"), tmp_path / "split", resume=True).fit()
    full = load_file(str(tmp_path / "full" / "trainer_state.safetensors"))
    split = load_file(str(tmp_path / "split" / "trainer_state.safetensors"))
    assert full.keys() == split.keys()
    for key in full:
        assert torch.equal(full[key], split[key]), key


def test_a_run_resumes_after_its_init_from_weights_are_gone(tmp_path):
    # a run committed to git and resumed on a fresh machine, where --init-from's file is not
    folder = photo_folder(tmp_path / "photos")
    common = dict(data=str(folder), hr_size=64, seed=3, **{**TINY, "save_every": 2})
    Trainer(TrainConfig(steps=1, arch="liif", **common), tmp_path / "start").fit()
    start = tmp_path / "start.safetensors"
    (tmp_path / "start" / "model.safetensors").rename(start)
    Trainer(TrainConfig(steps=2, init_from=str(start), **common), tmp_path / "run").fit()
    start.unlink()
    cfg = TrainConfig.load(tmp_path / "run" / "train_config.json")
    cfg.steps = 4
    last = Trainer(cfg, tmp_path / "run", resume=True).fit()
    assert last["step"] == 4
    assert load_model(tmp_path / "run").config.arch == "liif"


def test_sigterm_checkpoints_the_step_it_is_on_and_resumes_exactly(tmp_path):
    """A run killed politely (SIGTERM) keeps every step it took: the checkpoint holds step 2 even
    though it saves every 1000, and resuming ends where an uninterrupted run does."""
    import signal

    from hinr.train.state import read_state_step
    from hinr.train.stopping import stop_on_sigterm

    folder = photo_folder(tmp_path / "photos")
    common = dict(data=str(folder), steps=5, hr_size=64, seed=3, **TINY)
    Trainer(TrainConfig(**common), tmp_path / "full").fit()
    trainer = Trainer(TrainConfig(**common), tmp_path / "split")

    def term_at_2(m):
        if m["step"] == 2:
            os.kill(os.getpid(), signal.SIGTERM)

    before = signal.getsignal(signal.SIGTERM)
    with stop_on_sigterm(trainer):
        trainer.fit(term_at_2)
    assert signal.getsignal(signal.SIGTERM) is before  # the handler is the block's only
    assert trainer.step == 2 and trainer.stopped_early
    assert read_state_step(tmp_path / "split" / "trainer_state.safetensors") == 2
    resumed = Trainer(TrainConfig.load(tmp_path / "split" / "train_config.json"), tmp_path / "split",
                      resume=True)
    resumed.fit()
    assert not resumed.stopped_early
    full = load_file(str(tmp_path / "full" / "trainer_state.safetensors"))
    split = load_file(str(tmp_path / "split" / "trainer_state.safetensors"))
    for key in full:
        assert torch.equal(full[key], split[key]), key


DDP_SCRIPT = """
import os, sys, torch
from safetensors.torch import save_file
from hinr.train import TrainConfig, Trainer
cfg = TrainConfig(data=sys.argv[1], steps=3, preset="tiny", batch_size=1, queries=32, hr_size=64,
                  val_images=1, val_every=1000, save_every=1000, model_overrides={"residual": True})
t = Trainer(cfg, sys.argv[2])
t.fit()
save_file({k: v.contiguous() for k, v in t.model.state_dict().items()},
          os.path.join(sys.argv[2], f"rank{os.environ['RANK']}.safetensors"))
t.close()
"""


def test_ddp_two_cpu_processes_end_with_identical_weights(tmp_path):
    folder = photo_folder(tmp_path / "photos")
    script = tmp_path / "ddp.py"
    script.write_text(DDP_SCRIPT)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           str(script), str(folder), str(tmp_path / "run")]  # --standalone: a free port
    result = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr[:1500] + "\n…\n" + result.stderr[-2000:]
    a = load_file(str(tmp_path / "run" / "rank0.safetensors"))
    b = load_file(str(tmp_path / "run" / "rank1.safetensors"))
    assert all(torch.equal(a[k], b[k]) for k in a)
    written = load_model(tmp_path / "run").state_dict()  # rank 0 wrote the model it trained
    assert all(torch.equal(written[k], a[k]) for k in written)


def _cli(*args, cwd, env=None):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HINR_DATA_DIR": str(cwd / "no-data"),
           "XDG_CACHE_HOME": str(cwd / "cache"), **(env or {})}
    return subprocess.run([sys.executable, "-m", "hinr.cli.app", *args], capture_output=True,
                          text=True, cwd=cwd, env=env, timeout=300)


def test_wrong_md5_is_refused_and_nothing_written(fake_cifar, tmp_path):
    archive, _ = fake_cifar  # a valid archive, but not the published one: its md5 differs
    result = _cli("train", "--data", "cifar10", "--data-dir", str(archive.parent), "--out", "run",
                  cwd=tmp_path)
    assert result.returncode == 1
    assert "md5" in result.stderr.lower() and "Traceback" not in result.stderr
    assert not (tmp_path / "run").exists()


def test_missing_dataset_is_a_one_line_error(tmp_path):
    # the network is blocked for the child, not assumed absent: its downloads go to a closed port
    dead = "http://127.0.0.1:9"
    result = _cli("train", "--data", "cifar10", "--out", "run", cwd=tmp_path,
                  env={"http_proxy": dead, "https_proxy": dead, "HTTP_PROXY": dead,
                       "HTTPS_PROXY": dead, "no_proxy": "", "NO_PROXY": ""})
    assert result.returncode == 1
    assert "cifar-10-python.tar.gz" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "run").exists()


def test_empty_folder_is_a_one_line_error(tmp_path):
    (tmp_path / "empty").mkdir()
    result = _cli("train", "--data", "empty", "--out", "run", cwd=tmp_path)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "no images" in result.stderr.lower() or "empty" in result.stderr.lower()
    assert not (tmp_path / "run").exists()


def test_bad_options_are_usage_errors(tmp_path):
    assert _cli("train", "--arch", "resnet", cwd=tmp_path).returncode == 2
    assert _cli("train", "--data", "cifar10", "--hr-size", "64", cwd=tmp_path).returncode == 2


@pytest.mark.slow
def test_overfitting_a_handful_of_images(fake_cifar, tmp_path):
    """Two 32×32 images of random 4×4 blocks, reconstructed from all 1024 pixels each step.
    28 dB (RMS error ≈ 10 grey levels) is far above what a model that had not learned the images
    gets (their mean colour gives ~11 dB) and within reach of the tiny hybrid in 200 steps."""
    torch.manual_seed(0)
    from hinr.train.samples import ReconstructionSamples

    images = torch.rand(2, 3, 8, 8).repeat_interleave(4, -1).repeat_interleave(4, -2)

    class Two(torch.utils.data.Dataset):
        def __len__(self):
            return 2

        def __getitem__(self, i):
            return images[i]

    cfg = TrainConfig(data=str(photo_folder(tmp_path / "p", n=2)), steps=200, lr=5e-3, warmup=10,
                      preset="tiny", batch_size=2, queries=1024, val_every=10**6, save_every=10**6,
                      model_overrides={"locality": True, "lp_placement": "interleave"})
    trainer = Trainer(cfg, tmp_path / "run")
    trainer.train_data = ReconstructionSamples(Two(), queries=1024)
    trainer.val = [{"input": images[i], "coords": ReconstructionSamples(Two(), queries=1024)[i]["coords"],
                    "target": images[i].flatten(1).T, "cell": torch.tensor([1 / 32, 1 / 32]),
                    "size": torch.tensor([32, 32])} for i in range(2)]
    trainer.fit()
    assert trainer.validate()["val_psnr"] > 28.0


def test_compiled_decoder_saves_loadable_weights(tmp_path, monkeypatch):
    """--compile must not rename parameters (torch.compile's wrapper adds '_orig_mod.')."""
    compiled = []
    monkeypatch.setattr(torch.nn.Module, "compile", lambda self, **kw: compiled.append(self))
    folder = photo_folder(tmp_path / "photos")
    cfg = TrainConfig(data=str(folder), steps=1, hr_size=64, compile=True, **TINY)
    trainer = Trainer(cfg, tmp_path / "run")
    trainer.fit()
    assert compiled == [trainer.model.decoder]
    assert load_model(tmp_path / "run").state_dict().keys() == trainer.model.state_dict().keys()


# --- CIFAR-10 reconstruction learns, and nothing that cannot learn runs on -------------------------

def _metrics(run: Path) -> list[dict]:
    import json

    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


def test_cifar_reconstruction_learns_through_the_latents(fake_cifar, tmp_path):
    data_dir = extracted_cifar(fake_cifar, tmp_path)
    result = _cli("train", "--data", "cifar10", "--data-dir", str(data_dir), "--out", "run",
                  "--steps", "20", "--batch-size", "4", "--warmup", "2", "--lr", "2e-3",
                  "--val-every", "5", "--save-every", "20", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    rows = _metrics(tmp_path / "run")
    losses = [r["loss"] for r in rows]
    assert min(losses) > 0 and np.mean(losses[-5:]) < 0.8 * np.mean(losses[:5])
    val = [r["val_psnr"] for r in rows if "val_psnr" in r]  # on the CIFAR-10 test batch
    assert len(val) == 4 and val[-1] > val[0]
    config = load_model(tmp_path / "run").config
    assert not config.residual and config.local_pixels == 0  # the image goes through the latents


def test_residual_at_scale_1_is_refused_before_work(fake_cifar, tmp_path):
    data_dir = extracted_cifar(fake_cifar, tmp_path)
    result = _cli("train", "--data", "cifar10", "--data-dir", str(data_dir), "--residual",
                  "--out", "run", cwd=tmp_path)
    assert result.returncode == 2 and "--residual at scale 1" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and not (tmp_path / "run").exists()


def test_training_whose_output_equals_its_target_stops(fake_cifar, tmp_path):
    from cli_helpers import tiny_weights

    data_dir = extracted_cifar(fake_cifar, tmp_path)
    weights = tiny_weights(tmp_path)  # a residual model: exactly its input at scale 1
    result = _cli("train", "--data", "cifar10", "--data-dir", str(data_dir), "--init-from",
                  str(weights), "--steps", "20", "--batch-size", "2", "--out", "run", cwd=tmp_path)
    assert result.returncode == 1, result.stderr
    assert "training cannot learn" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "run").exists()  # nothing half-made is left


def _symmetry_gap(model, image: torch.Tensor) -> float:
    """Mean squared difference between the model's ×2 render and its renders of the 7 other
    symmetries of the input, turned back."""
    from hinr.inference.ensemble import transforms

    with torch.no_grad():
        plain = model.render(model.encode(image), 64, 64)
        gaps = [(t.undo(model.render(model.encode(t.apply(image)), 64, 64)) - plain).pow(2).mean()
                for t in transforms(8)[1:]]
    return float(torch.stack(gaps).mean())


def test_consistency_pulls_the_views_together_and_resumes_as_drawn(tmp_path):
    from hinr.errors import HinrUsageError
    from hinr.train.trainer import _symmetry

    folder = photo_folder(tmp_path / "photos")
    image = torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(3))
    common = dict(data=str(folder), arch="liif", hr_size=64, steps=30, lr=3e-3, warmup=0, seed=1,
                  **{**TINY, "batch_size": 4})
    gaps = {}
    for weight in (0.0, 30.0):
        Trainer(TrainConfig(consistency=weight, **common), tmp_path / f"run{weight}").fit()
        gaps[weight] = _symmetry_gap(load_model(tmp_path / f"run{weight}").eval(), image)
    assert gaps[30.0] < 0.5 * gaps[0.0]  # the learnt model is closer to symmetric
    draws = [_symmetry(1, step, 0) for step in range(40)]
    assert all(t.turns or t.mirror for t in draws) and len(set(draws)) == 7  # never the identity
    assert draws == [_symmetry(1, step, 0) for step in range(40)]  # a function of seed and step
    with pytest.raises(HinrUsageError, match="--consistency must be 0"):
        TrainConfig(consistency=-1.0, **common)


@pytest.mark.parametrize("eps, moves", [(None, True), (1e-8, False)])
def test_the_scans_dynamics_train_under_the_default_adam_eps(tmp_path, eps, moves):
    """The pixel loss gives the BiMamba scan's A_log and dt_proj gradients far under torch's AdamW
    ε (1e-8), which then froze them at their initial values; under the default ε they move as far
    as any weight does in a step (about the learning rate), and under 1e-8 they barely move."""
    folder = photo_folder(tmp_path / "photos")
    extra = {} if eps is None else {"adam_eps": eps}
    cfg = TrainConfig(data=str(folder), arch="hybrid-v3", steps=3, hr_size=64, lr=1e-3, warmup=1,
                      **extra, **TINY)
    trainer = Trainer(cfg, tmp_path / "run")
    mixer = trainer.model.encoder.blocks[0].mixer.fwd
    before = {name: p.detach().clone() for name, p in mixer.named_parameters() if name in ("A_log", "dt_proj.bias")}
    trainer.fit()
    for name, p in mixer.named_parameters():
        if name in before:
            moved = (p.detach() - before[name]).abs().max().item()
            assert (moved > 5e-4) if moves else (moved < 5e-4), (name, moved)
