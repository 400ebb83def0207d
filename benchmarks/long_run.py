"""Long, resumable training runs on equal terms (the models issue): one recipe table, one folder per
run under ``long_runs/`` (tracked in git, so a run survives the end of a session and continues on
a fresh machine), one command to start or continue:

    nice -n 10 python benchmarks/long_run.py liif-e64x8 &      # start, or resume where it stopped
    python benchmarks/long_run.py liif-e64x8 --status           # steps, CPU minutes, held-out PSNR

While you edit the code, run it from a frozen checkout so that the run never imports a module
you are moving (a run does import some modules late, at its first validation):

    git worktree add /tmp/frozen HEAD
    nice -n 10 python /tmp/frozen/benchmarks/long_run.py liif-e64x8 --runs long_runs &

Every run trains with ``hinr.train.Trainer`` on the ``train`` photos of ``shared/photos`` with the
same sampler and seed (random HR crops of 32–256 px, 512 queries each, 16 crops a step, a 32×32
reconstruction loss at 0.25, clean inputs), validating on the photos held out from ``train``
(never ``val``). The run folder holds the latest resumable state (weights, AdamW moments, step,
RNG: safetensors + JSON, no pickle); ``cpu.jsonl`` adds this process's CPU seconds at each
checkpoint, so the CPU minutes of a run that spans sessions add up. ``hinr train --resume DIR``
continues a run too (without the CPU log). Delete the folder when the run is done and its
weights are kept elsewhere.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

ROOT = Path(__file__).resolve().parents[1]
RUNS = ROOT / "long_runs"
DATA = ROOT.parent / "shared" / "photos"
COMMON = dict(batch_size=16, queries=512, hr_size=256, recon_weight=0.25, degrade="none",
              val_every=1000, save_every=1000, val_images=32, seed=0, device="cpu", bf16=True,
              warmup=500, lr=5e-4)
# name → (arch, preset, ModelConfig overrides, steps). The decoder (LIIF's MLP, 128 × 3) is the
# shipped default's, so runs differ in their encoders only and decode at the same cost.
RECIPES: dict[str, tuple[str, str, dict, int]] = {
    "liif-e64x8": ("liif", "tiny", dict(dim=64, encoder_depth=8, decoder_depth=3, base_skip=True),
                   50_000),
    # the same stem (8 residual blocks of 64) and local read-out, plus 2 BiMamba blocks over the
    # unshuffled tokens and 64 LP tokens, alternating scans, a processor block and the gated
    # global SCENT decoder
    "hybrid-v2-e64x8": ("hybrid-v2", "tiny", dict(
        dim=64, stem_depth=8, encoder_depth=2, encoder_mlp_ratio=2.0, num_latents=64,
        processor_depth=1, heads=4, dim_head=16, ff_mult=2, decoder_dim=128, decoder_depth=3,
        decoder_heads=2, decoder_dim_head=16, fourier_features=32, base_skip=True), 24_000),
}
# Pilots (the models issue): 3,000 steps each, the same photos, sampler and seed, with quarter
# turns; a v3 step and a liif step cost about the same on one thread (1.3 s), so equal steps are
# about equal CPU minutes (cpu.jsonl logs them). Scored on the `select` photos.
PILOT_STEPS = 3_000
LIIF_E64X8 = dict(dim=64, encoder_depth=8, decoder_depth=3, base_skip=True)
# the pure designs with their best read-out on photos (LIIF's local MLP over their latent grid)
PURE_LOCAL = dict(dim=64, readout="local", base_skip=True, cell_input=True, decoder_dim=128, decoder_depth=3)
V3_PX = dict(modulate=True, pixel_kv=True)  # the best hybrid-v3 so far (pilot-v3-px)
V3_LPSUM = {**V3_PX, "lp_sum": True}  # latents = patch outputs + LP outputs (pilot-v3px-lpsum)
V3_STEM8 = {**V3_LPSUM, "stem_blocks": 8}  # liif's 8 full-resolution blocks as the stem (pilot-v3lpsum-stem8)
V3_ABLATIONS = {  # each named part of the design, retrained without it
    "nolp": dict(lp_tokens=False),  # the patch tokens' outputs are the latents
    "nomamba": dict(encoder_depth=0, lp_tokens=False),  # the stem alone, no scan
    "noproc": dict(processor_depth=0),  # no SCENT processor
    "mlp": dict(readout="local", decoder_dim=128, decoder_depth=3),  # LIIF's MLP, not the local SCENT decoder
}
# the probe pilot-liifenc-attn: liif's 8 full-resolution blocks, a latent per pixel, no scan, no
# processor, the local SCENT decoder
LIIFENC_ATTN = {**V3_PX, "patch_size": 1, "stem_blocks": 8, "processor_depth": 0, **V3_ABLATIONS["nomamba"]}
# per-pixel latents: the stem's features plus the context of a scan over 2 × 2 patches, the processor
# over them in 4 × 4 px windows (pilot-v3u)
V3U = {**V3_LPSUM, "patch_size": 1, "scan_patch": 2, "window": 4}
V3U_ABLATIONS = {
    "nolp": dict(lp_tokens=False, lp_sum=False),
    "nomamba": dict(encoder_depth=0, lp_tokens=False, lp_sum=False, scan_patch=0),  # stem → processor → decoder
    "noproc": V3_ABLATIONS["noproc"],
    "mlp": V3_ABLATIONS["mlp"],
}
# v3u whose query holds no phase of its own: position reaches RGB only through each cell's key and
# value (pilot-v3u-cellpos)
V3UC = {**V3U, "modulate": False, "value_position": 6, "cell_offsets": True}
PILOTS: dict[str, tuple[str, str, dict, int]] = {
    "pilot-v3": ("hybrid-v3", "small", {}, PILOT_STEPS),
    "pilot-liif": ("liif", "tiny", LIIF_E64X8, PILOT_STEPS),
    # the decoder's attended values also modulated by the offset's Fourier features (content ×
    # position): the first change after pilot-v3 trailed pilot-liif at step 500
    "pilot-v3-mod": ("hybrid-v3", "small", dict(modulate=True), PILOT_STEPS),
    # and the keys / values unpacked per pixel from each latent (the query reads pixel-precise
    # detail, still from the latents alone): the second change
    "pilot-v3-px": ("hybrid-v3", "small", V3_PX, PILOT_STEPS),
    # and the liif's 8 residual blocks at full resolution before the scan (4 in `small`): the
    # third change, after pilot-v3-px still trailed pilot-liif by 0.55 dB (trainer val, step 1000)
    "pilot-v3-px8": ("hybrid-v3", "small", dict(modulate=True, pixel_kv=True, stem_blocks=8),
                     PILOT_STEPS),
    # px8 matched pilot-v3-px at step 500 (held out 24.72 against 24.70) at 1.4× the CPU: stopped
    # at 822. Two other ways to close the gap: the query reads the 4 × 4 pixels' keys / values
    # around it (as LIT reads a neighbourhood), and latents twice as wide (32 numbers per input
    # pixel, not 16) behind the same 64-wide stem
    "pilot-v3-k4": ("hybrid-v3", "small", dict(modulate=True, pixel_kv=True, neighbourhood=4),
                    PILOT_STEPS),
    "pilot-v3-w128": ("hybrid-v3", "small", dict(modulate=True, pixel_kv=True, dim=128, stem_dim=64,
                                                 dim_head=32), PILOT_STEPS),
    # k4 matched pilot-v3-px at step 500 (held out 24.685 against 24.697) and w128 barely passed
    # it (24.727, at 1.5× the CPU): the read-out's per-pixel features are linear maps of one
    # latent each, where liif's MLP reads 3×3 neighbourhoods of 64-wide features. The fourth
    # change: conv blocks over the latents' pixel features (from the latents alone) before the
    # keys and values
    "pilot-v3-head": ("hybrid-v3", "small", dict(modulate=True, pixel_kv=True, pixel_head=2,
                                                 pixel_dim=48), PILOT_STEPS),
    # head trailed pilot-v3-px at step 500 (24.416 against 24.697); the training loss of every v3
    # so far sits ~10 % above liif's at the same step (underfitting): the read-out blends the
    # cells' values linearly, where LIIF's MLP meets content and offset non-linearly per corner.
    # The fifth change: each cell's value through a GELU with its offset's Fourier features added
    "pilot-v3-vpos": ("hybrid-v3", "small", dict(modulate=True, pixel_kv=True, value_position=8),
                      PILOT_STEPS),
    # vpos matched pilot-v3-px at step 500 (24.715 against 24.697), and LIIF's own MLP read-out
    # over the v3 latents (pilot-v3-mlp) trailed both (24.487): the latents, one per 2×2 input
    # pixels and 64 wide, are the limit, not the read-out (w128, twice as wide, gained 0.16 dB at
    # step 1000 at 1.5× the CPU). The sixth change: a latent per input pixel, as liif has
    # (vpos at step 1000: 24.896 against pilot-v3-px's 24.868, stopped there)
    "pilot-v3-p1": ("hybrid-v3", "small", dict(modulate=True, patch_size=1), PILOT_STEPS),
    # the seed's own comparison: the pure designs with their best read-out on photos (LIIF's local
    # MLP over their latent grid, docs/results.md "The four architectures"), 64 wide as the others
    "pilot-mamba-ginr": ("mamba-ginr", "small", PURE_LOCAL, PILOT_STEPS),
    # (a scent step costs 0.7 of a v3 step: 4,000 steps make the 60 CPU minutes the others get)
    "pilot-scent": ("scent", "small", PURE_LOCAL, 4_000),
    # the retrain-ablations of the first decoder (pilot-v3-noproc stopped at 440) and LIIF's MLP over
    # the plain v3 latents (pilot-v3-mlp, stopped at 721: the diagnostic above)
    "pilot-v3-noproc": ("hybrid-v3", "small", dict(processor_depth=0), PILOT_STEPS),
    "pilot-v3-mlp": ("hybrid-v3", "small", dict(readout="local", decoder_dim=128, decoder_depth=3),
                     PILOT_STEPS),
    # p1 matched pilot-v3-px at step 500 too (24.712) at 2.3× the CPU: every v3 so far sits at
    # 24.70 ± 0.03 at step 500 whatever its read-out, width or latent grid, against liif's 24.93.
    # What all share is the path into the latents: the scan, and the LP tokens whose outputs are
    # the latents. The retrain-ablations of pilot-v3-px measure it (and are the table):
    **{f"pilot-v3px-{name}": ("hybrid-v3", "small", {**V3_PX, **change}, PILOT_STEPS)
       for name, change in V3_ABLATIONS.items()},
    # at step 500 the ablations moved *up*: nolp 24.911, nomamba 24.858 against pilot-v3-px's
    # 24.697 (liif 24.933): the LP tokens' outputs, as latents, cost 0.21 dB. A bidirectional scan
    # reaches an LP token placed after its patch before that patch on its way back, so half of an
    # LP output misses its own patch. The seventh change: the latents are the patch and LP outputs
    # summed, so the LP tokens add what they carry
    "pilot-v3px-lpsum": ("hybrid-v3", "small", V3_LPSUM, PILOT_STEPS),
    # lpsum matched nolp (held out 25.392 against 25.374 at step 1,500) and keeps the LP tokens the
    # design asks for: it is the full model the remaining retrain-ablations are measured against
    # (its nolp and nomamba are pilot-v3px-nolp and pilot-v3px-nomamba, which never had LP sums)
    **{f"pilot-v3lpsum-{name}": ("hybrid-v3", "small", {**V3_LPSUM, **V3_ABLATIONS[name]}, PILOT_STEPS)
       for name in ("noproc", "mlp")},
    # at 3,000 steps nolp and nomamba scored level with lpsum on select (+0.011, −0.003, intervals
    # across zero; nomamba at 59 % of the CPU): with 4 EDSR blocks before it, the scan has nothing
    # left to add. The next round gives it the work: a 1-block stem and 4 scan blocks, beside the
    # same thin stem without a scan (the ablation that must then fall below it)
    "pilot-v3-thin": ("hybrid-v3", "small", {**V3_LPSUM, "stem_blocks": 1, "encoder_depth": 4}, PILOT_STEPS),
    "pilot-v3-thin-nomamba": ("hybrid-v3", "small", {**V3_PX, "stem_blocks": 1, **V3_ABLATIONS["nomamba"]},
                              PILOT_STEPS),
    # the thin stem cost 0.14 dB at step 500 and the scan gave back 0.02. LIIF's MLP over the lpsum
    # latents (pilot-v3lpsum-mlp) trailed the local SCENT decoder by 0.38 dB at step 500 (24.541
    # against 24.921), where over its own encoder it matched (pilot-liif 24.933): the read-out pays
    # and liif's encoder (8 residual blocks at full resolution, 64 numbers per pixel) is what the
    # v3 latents lack. The next change: liif's 8 blocks as the stem, everything after it as lpsum
    "pilot-v3lpsum-stem8": ("hybrid-v3", "small", V3_STEM8, PILOT_STEPS),
    # stem8 passed liif at step 500 (held out 24.954 against 24.933, at 1.33× its CPU): its own
    # retrain-ablations, each part of the design taken out of it
    **{f"pilot-v3stem8-{name}": ("hybrid-v3", "small", {**V3_STEM8, **change}, PILOT_STEPS)
       for name, change in V3_ABLATIONS.items()},
    # but at step 1,000 stem8 fell back to lpsum (held out 25.289 against 25.294; liif 25.418): a
    # deeper stem does not close the gap. What the v3 latents still lack is width: one 64-wide
    # latent per 2 × 2 pixels is 16 numbers a pixel, liif's 64; w128 (32 a pixel) was the one
    # change that gained at step 1,000 (+0.16 over pilot-v3-px). The next change: lpsum with w128
    "pilot-v3lpsum-w128": ("hybrid-v3", "small", {**V3_LPSUM, "dim": 128, "stem_dim": 64, "dim_head": 32},
                           PILOT_STEPS),
    # stem8 matched lpsum at step 1,500 too (25.394 against 25.392) at 1.9× its CPU: stopped. The
    # other way to give the decoder liif's 64 numbers a pixel: a latent per input pixel (the scan
    # and the windows then run over 4× the tokens)
    "pilot-v3lpsum-p1": ("hybrid-v3", "small", {**V3_LPSUM, "patch_size": 1}, PILOT_STEPS),
    # held out @500 / @1,000: w128 25.029 / 25.310 and p1 25.136 at 500 (1.9× liif's CPU to step 500),
    # against lpsum 24.921 / 25.294 and liif 24.933 / 25.418: every v3 change so far (stem8, w128)
    # led early and fell back to lpsum by step 1,000 (docs/results.md, "The third round")
    # p1 held 25.428 at step 1,000, level with liif (25.418), the first v3 to be, at 1.9× its CPU,
    # most of it the scan over 4× the tokens, half of them LP tokens (which did not pay at 2 × 2
    # patches: nolp +0.011). The next change: p1 without LP tokens, a line half as long
    "pilot-v3p1-nolp": ("hybrid-v3", "small", {**V3_PX, "patch_size": 1, **V3_ABLATIONS["nolp"]}, PILOT_STEPS),
    # a probe, not a candidate: the local SCENT decoder over liif's own encoder (its 8 full-resolution
    # blocks, a latent per pixel, no scan, no processor). Above liif, the decoder beats LIIF's MLP and
    # what v3 loses is in its encoder; below, the decoder is the weak part
    "pilot-liifenc-attn": ("hybrid-v3", "small", LIIFENC_ATTN, PILOT_STEPS),
    # its lead over liif shrank from 0.32 dB at step 500 to 0.07 at 1,000 (25.483 against 25.418), as
    # every v3's did: the one part all of them share is the 48-wide decoder (19,610 multiply-adds a
    # pixel against the MLP's 134,758). A probe of its capacity: the same, the decoder 64 wide with
    # a 128-wide GEGLU (about 40 k multiply-adds, over the 20 k: a probe, not a candidate)
    "pilot-liifenc-attn-wide": ("hybrid-v3", "small", {**LIIFENC_ATTN, "decoder_dim": 64, "decoder_dim_head": 16,
                                                       "decoder_hidden": 128}, PILOT_STEPS),
    # and a probe of what it reads: the 4 × 4 cells around the query (LIIF's 4 corners with their
    # 3 × 3 unfolding read the same 16 pixels' features), within the 20 k budget (19,440)
    "pilot-liifenc-attn-k4": ("hybrid-v3", "small", {**LIIFENC_ATTN, "neighbourhood": 4}, PILOT_STEPS),
    # liifenc-attn led liif by 0.32 dB at step 500 (held out 25.251 against 24.933) at 0.8× liif's CPU, and p1
    # fell 0.09 behind liif by step 1,500 (25.539 against 25.626): the decoder is good, what the v3
    # latents lack is the stem's per-pixel detail. The next design: the latents are the stem's
    # features per pixel plus the scan's context over 2 × 2 patches (``scan_patch``), the processor
    # over exactly those latents (4 × 4 px windows: at 8 × 8 the two blocks cost 1.4× as much), and
    # the local SCENT decoder; a step costs 1.1× a liif step (765 against 698 CPU s to step 500)
    "pilot-v3u": ("hybrid-v3", "small", V3U, PILOT_STEPS),
    # every local-decoder pilot fades after step 1,000 and draws dotted edges, over any encoder: the
    # cells' values are blended before any non-linearity. The next change: each cell's value meets its
    # own offset through a GELU before the blend (value_position, 4 frequencies: 19,824 multiply-adds)
    "pilot-v3u-vpos": ("hybrid-v3", "small", {**V3U, "value_position": 4}, PILOT_STEPS),
    # vpos kept the periodic query (its offset in the cell, and modulate's waves), which alone can
    # draw a pattern at the cell pitch over identical cells (tests/test_hybrid_v3.py): here the
    # query holds only the pixel size, and position reaches RGB only through each cell's key and
    # value (cell_offsets, 6 frequencies, modulate off: 19,056 multiply-adds)
    "pilot-v3u-cellpos": ("hybrid-v3", "small", V3UC, PILOT_STEPS),
    # cellpos ended 0.21 dB under liif on select ×4 (28.90 against 29.11), most at ×2 (−0.30); the
    # decoder twice as wide gained 0.03–0.06 (liifenc-attn-wide), and liif's encoder alone matched
    # v3u's stem of 4 + scan + processor (liifenc-attn): per-pixel capacity in the encoder is what
    # is left. The next change: cellpos with liif's 8 full-resolution blocks as its stem (over the
    # latents per 2 × 2 pixels of round 3 they did not help; these latents are per pixel)
    "pilot-v3uc-stem8": ("hybrid-v3", "small", {**V3UC, "stem_blocks": 8}, PILOT_STEPS),
    # cellpos without its scan (pilot-v3uc-nomamba) matched it on select (+0.008 [−0.021, +0.035]);
    # knocked out of the trained cellpos, the scan's context cost 0.05 dB. Why: the pixel loss gives
    # the scan's A_log, dt_proj and x_proj gradients of 1e-12 – 1e-9, under AdamW's ε (1e-8), so
    # they never left their initial values (every run above). TrainConfig.adam_eps is now 1e-15
    # (resumed runs keep the ε in their optimizer state). The same recipe as cellpos, under it:
    "pilot-v3uc-eps": ("hybrid-v3", "small", V3UC, PILOT_STEPS),
    # stem8 led cellpos held out by 0.06 at steps 500 and 1,000, then by 0.016 at 1,500 (25.618;
    # liif 25.626), at 1.4× its CPU a step: more stem fades as every v3 does; stopped at 1,563,
    # resumable. The scan's retrain-ablation under the same ε as pilot-v3uc-eps (the other
    # weights' smaller gradients moved under 1e-8 too, by less):
    **{f"pilot-v3uc-eps-{name}": ("hybrid-v3", "small", {**V3UC, **V3U_ABLATIONS[name]}, PILOT_STEPS)
       for name in ("nomamba", "nolp")},
    # the trained scan paid nothing either (pilot-v3uc-eps-nomamba: +0.001 [−0.027, +0.025]), and
    # cellpos's query holds its pixel size only: its content logits weigh each cell by what the
    # cell holds, never against what lies where the query stands, so a cell across an edge from
    # the query counts as much as one on its side (the notched edges). The next change: LIT's
    # query, the content at the query, blended bilinearly from its 2 × 2 cells (content_query)
    "pilot-v3uc-cq": ("hybrid-v3", "small", {**V3UC, "content_query": True}, PILOT_STEPS),
    # the seed's pure MAMBA-GINR again under ε = 1e-15, so that its scan (its whole encoder) trains
    # as the v3's now does (pilot-mamba-ginr stopped at 957 under 1e-8)
    "pilot-mamba-ginr-eps": ("mamba-ginr", "small", PURE_LOCAL, PILOT_STEPS),
    # LIIF's MLP over the cellpos latents (pilot-v3u-mlp, 134,758 multiply-adds a pixel) beat the
    # local SCENT decoder (14,544) on select by 0.12 dB: LIIF's MLP meets content and offset
    # through 4 layers per corner, this decoder through one GELU per cell before the blend. The
    # next change: a second per-cell layer (value_layers 2), paid for with a GEGLU 32 wide, not 64
    # (19,152, the long run's decoder cost)
    "pilot-v3uc-vl2": ("hybrid-v3", "small", {**V3UC, "value_layers": 2, "decoder_hidden": 32}, PILOT_STEPS),
    # vl2 trailed the ε run held out at steps 500 and 1,500 (25.181, 25.530 against 25.232, 25.587)
    # and on its training batches in every window: stopped at 1,606
    # the read-out's retrain-ablation at the decoder's own cost: LIIF's MLP 48 wide, not 128
    # (19,878 multiply-adds a pixel counted, within the 20 k; the local SCENT decoder 14,544):
    # at the budget that makes the hybrid the fast model, which read-out is better
    "pilot-v3u-mlp48": ("hybrid-v3", "small", {**V3U, **V3U_ABLATIONS["mlp"], "decoder_dim": 48}, PILOT_STEPS),
    # cellpos's retrain-ablations (LIIF's MLP ignores the decoder's options: pilot-v3u-mlp is also cellpos')
    **{f"pilot-v3uc-{name}": ("hybrid-v3", "small", {**V3UC, **change}, PILOT_STEPS)
       for name, change in V3U_ABLATIONS.items() if name != "mlp"},
    # pilot-v3u's retrain-ablations: each named part out, the rest as pilot-v3u
    **{f"pilot-v3u-{name}": ("hybrid-v3", "small", {**V3U, **change}, PILOT_STEPS)
       for name, change in V3U_ABLATIONS.items()},
}
PILOT_COMMON = dict(COMMON, warmup=200, val_every=500, save_every=250, rot90=True)
RECIPES.update(PILOTS)
# The long runs on the photo pool (the models issue, item 3): a v3 and the pilots' liif, each a
# whole cosine over about 8.5 CPU-hours. Every v3 pilot learns faster than liif to step 1,000 and
# then falls behind it, fitting its batches less well (a fit limit, not overfitting), with 529 k
# weights against liif's 737 k: the long run's v3 is cellpos with liif's 8 full-resolution
# blocks as its stem (pilot-v3uc-stem8, ahead of cellpos at every validation it reached and on
# its training batches by 0.04–0.05 dB throughout; 824 k) and the decoder's GEGLU 96 wide, not 64
# (19,152 multiply-adds a pixel, within the 20 k: the one capacity probe whose gain held,
# pilot-liifenc-attn-wide, widened the decoder; LIIF's MLP over the cellpos latents, pilot-v3u-mlp,
# fitted its batches 0.02–0.05 dB better from step 1,750). With two runs on the 2 cores a stem8
# step costs about 2.55 CPU s and a liif step 1.36 (cpu.jsonl of the pilots), hence the horizons.
# The weights at every validation are kept in ``snapshots/`` (not in git) to pick from on
# `select` if a run overfits, as the round-7 runs did on 47 photos.
LONG: dict[str, tuple[str, str, dict, int]] = {
    "long-v3uc-stem8": ("hybrid-v3", "small", {**V3UC, "stem_blocks": 8, "decoder_hidden": 96}, 12_000),
    "long-liif": ("liif", "tiny", LIIF_E64X8, 22_000),
}
LONG_COMMON = dict(PILOT_COMMON, warmup=500, val_every=1_000, save_every=500)
RECIPES.update(LONG)


# The known fine-tunes (the models issue, item 3), each from the last weights of a finished run, as
# the shipped default's steps 4 and 5 (weights/README.md) on the long runs' sampler: 2,000 steps on
# 48×48 inputs (`-p48`), then from those five more on 48×48 inputs at ×1–×4 with RGB permute and/or
# flip-and-turn consistency, each a fresh AdamW with 50 warm-up steps and a cosine to 0.05 of its
# peak. The five are then averaged weight by weight, in this order:
#     hinr average long_runs/long-liif-{rgb,cons,cr14,cr15,cr16} -o default.safetensors
def finetunes(parent: str) -> dict[str, tuple[str, dict, int]]:
    """name → (the run it starts from, TrainConfig overrides, steps), for the stages of ``parent``."""
    five = dict(input_size=48, hr_size=192, lr=2e-4)
    return {
        f"{parent}-p48": (parent, dict(input_size=48, hr_size=384, lr=3e-4, seed=12), 2_000),
        f"{parent}-rgb": (f"{parent}-p48", dict(five, seed=13, rgb_permute=True), 2_000),
        f"{parent}-cons": (f"{parent}-p48", dict(five, seed=13, consistency=1.0), 2_000),
        **{f"{parent}-cr{seed}": (f"{parent}-p48", dict(five, seed=seed, rgb_permute=True, consistency=1.0), 2_000)
           for seed in (14, 15, 16)},
    }


# Warm restarts (session 31): neither long run reached the models issue's 8 CPU-hours as measured
# (the v3 296 CPU-minutes, liif 433: their horizons were set in fp32 CPU time and bf16 hosts ran them
# cheaper), and liif's last 10,000 steps gained it 0.14 dB held out while the v3 had stopped. Each
# continues from its last weights with a second cosine, its peak half the first's (warm-up 500
# steps), over equal CPU time: a v3 step costs 2.5× a liif step in bf16 (0.79 against 0.31 CPU-s on
# the AMX host), hence 8,000 against 20,000 steps. Their fine-tunes then follow as above.
MORE = dict(lr=2.5e-4, warmup=500, val_every=1_000, save_every=500, seed=1)
CONTINUATIONS: dict[str, tuple[str, dict, int]] = {
    "long-v3uc-stem8-more": ("long-v3uc-stem8", MORE, 8_000),
    "long-liif-more": ("long-liif", MORE, 20_000),
}
FINETUNES = {**CONTINUATIONS, **{name: stage for parent in [*LONG, *CONTINUATIONS]
                                 for name, stage in finetunes(parent).items()}}
FINETUNE_COMMON = dict(LONG_COMMON, warmup=50, val_every=500, save_every=250)

# Equal terms are equal CPU time, each with a whole cosine: a hybrid step costs about twice a liif
# step (the BiMamba scan on the CPU), so 24k hybrid steps take about the 6 CPU-hours of 50k liif
# steps. (The hybrid run began with a 50k horizon and was shortened to 24k at step 3000; the
# learning rate there moved from 0.994 to 0.974 of its peak.)


def cpu_seconds() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_utime + resource.getrusage(resource.RUSAGE_SELF).ru_stime


def read_jsonl(path: Path) -> list[dict]:
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def status(run: Path) -> dict:
    cpu = read_jsonl(run / "cpu.jsonl")
    metrics = [r for r in read_jsonl(run / "metrics.jsonl") if "val_psnr" in r]
    return {"run": run.name, "step": cpu[-1]["step"] if cpu else 0,
            "cpu_minutes": round(cpu[-1]["cpu_s"] / 60, 1) if cpu else 0.0,
            "heldout_psnr": [(r["step"], round(r["val_psnr"], 3)) for r in metrics][-5:]}


def horizon(name: str) -> int:
    """The steps of a recipe or a fine-tune stage."""
    return FINETUNES[name][2] if name in FINETUNES else RECIPES[name][3]


def finished_weights(run: Path) -> Path:
    """The last weights of ``run``, which must have reached its recipe's last step (a fine-tune
    starts from a finished cosine, not from weights that are still moving)."""
    from hinr.store.checkpoint import WEIGHTS_NAME

    steps = horizon(run.name)
    done = status(run)["step"]
    if done < steps:
        sys.exit(f"{run.name} is at step {done} of {steps}: finish it first "
                 f"(python benchmarks/long_run.py {run.name})")
    return run / WEIGHTS_NAME


def run(name: str, threads: int, runs: Path = RUNS) -> None:
    import torch

    from hinr.precision import native_bf16
    from hinr.store.checkpoint import WEIGHTS_NAME
    from hinr.train.config import TrainConfig
    from hinr.train.state import STATE_NAME
    from hinr.train.stopping import stop_on_sigterm
    from hinr.train.trainer import Trainer

    torch.set_num_threads(threads)
    out = runs / name
    resume = (out / STATE_NAME).is_file()
    steps = horizon(name)
    if resume:
        cfg = TrainConfig.load(out / "train_config.json")
        if not Path(cfg.data).is_dir():  # a fresh machine with another layout: the same photos here
            cfg.data = str(DATA)
        cfg.steps = steps  # the recipe's horizon is the one that counts (see RECIPES)
    elif name in FINETUNES:
        parent, overrides, _ = FINETUNES[name]
        cfg = TrainConfig(data=str(DATA), init_from=str(finished_weights(runs / parent)), steps=steps,
                          **{**FINETUNE_COMMON, **overrides})
    else:
        arch, size, overrides, _ = RECIPES[name]
        common = PILOT_COMMON if name in PILOTS else LONG_COMMON if name in LONG else COMMON
        cfg = TrainConfig(data=str(DATA), arch=arch, preset=size, model_overrides=overrides,
                          steps=steps, **common)
    # bf16 where the CPU has it natively; emulated bf16 (an AVX2-only host) ran 0.6 images/s against
    # 7.1 in fp32, so a session on such a host continues in fp32 (the precision is logged per checkpoint)
    cfg.bf16 = COMMON["bf16"] and native_bf16("cpu")
    trainer = Trainer(cfg, out, resume=resume)
    log = out / "cpu.jsonl"
    before = read_jsonl(log)
    base = before[-1]["cpu_s"] if before else 0.0
    save = trainer.save

    def save_and_log() -> None:
        save()
        if (name in LONG or name in CONTINUATIONS) and trainer.step % cfg.val_every == 0:  # the weights at each validation
            (out / "snapshots").mkdir(exist_ok=True)
            shutil.copyfile(out / WEIGHTS_NAME, out / "snapshots" / f"step-{trainer.step}.safetensors")
        with log.open("a") as f:
            f.write(json.dumps({"step": trainer.step, "cpu_s": round(base + cpu_seconds(), 1),
                                "precision": "bf16" if cfg.bf16 else "fp32"}) + "\n")

    trainer.save = save_and_log
    with stop_on_sigterm(trainer):  # `pkill -TERM -f long_run.py` checkpoints the step it is on
        trainer.fit()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("name", choices=sorted([*RECIPES, *FINETUNES]))
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--status", action="store_true", help="print where the run stands and exit")
    parser.add_argument("--runs", type=Path, default=RUNS, help="the folder of run folders")
    args = parser.parse_args()
    if args.status:
        print(json.dumps(status(args.runs / args.name), indent=1))
        return
    run(args.name, args.threads, args.runs.resolve())


if __name__ == "__main__":
    main()
