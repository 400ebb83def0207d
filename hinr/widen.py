"""Growing a trained model without changing what it computes, so that training can continue from it:

- ``widen_local_pixels``: the ``local_pixels`` neighbourhood of the attention decoder, k×k → K×K;
- ``add_base_skip``: the ``base_skip`` path (the bicubic base added to the output through a
  learned per-channel weight), added at weight 0.

Widening:

The decoder reads the k×k taps through the columns of ``decoder.query_proj`` after the Fourier
features, at the ``taps`` slice of the query extras (``QueryExtras.slices``), laid out (row,
column, channel) as ``hinr.models.bicubic.pixel_neighbourhood`` returns them. The k×k taps are the centre of the K×K
ones, so their columns move to the matching positions and the new outer taps get zero weights: the
widened model's output equals the original's (to float rounding). The shipped hybrid weights
(``--weights hybrid``) were made this way (4×4 → 6×6 → 8×8, trained on after each; see
weights/README.md).
"""

from __future__ import annotations

from dataclasses import replace

import torch

from .models.hinr import HINR


def widen_local_pixels(model: HINR, k: int) -> HINR:
    """A copy of ``model`` whose decoder sees k×k input pixels, computing the same function."""
    c = model.config
    old = c.local_pixels
    if c.arch not in ("hybrid", "scent") or c.readout != "attention":
        raise ValueError("widening covers the SCENT attention decoder (hybrid, scent); the local "
                         "read-out's pixel view belongs to the latents")
    if old == 0 or k <= old or (k - old) % 2:
        raise ValueError(f"can widen {old}×{old} taps only to a larger size of the same parity, "
                         f"not {k}×{k}" if old else "the model has no local pixels to widen")
    wide = HINR(replace(c, local_pixels=k)).to(next(model.parameters()).device)
    state = model.state_dict()
    weight = state["decoder.query_proj.weight"]  # (W, F + E)
    fourier = model.decoder.fourier.out_dim
    old_slices, new_slices = model.extras.slices, wide.extras.slices
    head = fourier + old_slices["taps"].start
    grown = weight.new_zeros(weight.shape[0], fourier + wide.extras.out_dim)
    grown[:, :head] = weight[:, :head]
    new_sub, old_sub = new_slices["subpixel"], old_slices["subpixel"]
    grown[:, fourier + new_sub.start:fourier + new_sub.stop] = weight[:, fourier + old_sub.start:fourier + old_sub.stop]
    shift = (k - old) // 2
    for y in range(old):
        for x in range(old):
            src = head + 3 * (y * old + x)
            dst = head + 3 * ((y + shift) * k + x + shift)
            grown[:, dst:dst + 3] = weight[:, src:src + 3]
    state["decoder.query_proj.weight"] = grown
    wide.load_state_dict(state)
    return wide.train(model.training)


def add_base_skip(model: HINR) -> HINR:
    """A copy of ``model`` with the ``base_skip`` path at weight 0: the same function, and the
    weight learns from the next step on (its gradient is the output's, times the base − ½)."""
    c = model.config
    if c.base_skip or c.residual:
        raise ValueError("the model already adds the bicubic base (base_skip or residual)")
    grown = HINR(replace(c, base_skip=True)).to(next(model.parameters()).device)
    state = dict(model.state_dict(), base_skip=torch.zeros(3))
    grown.load_state_dict(state)
    return grown.train(model.training)
