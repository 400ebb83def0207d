"""MAMBA-GINR's encoder: patch tokens joined with learnable position (LP) tokens, through
BiMamba blocks; the LP tokens' outputs are the latents.

Two LP placements: ``append`` (the hybrid design note: concatenate, keep the last M) and
``interleave`` (MAMBA-GINR's equidistant insertion among the patches). Interleaved LP token i sits
at floor(i·(L+M−1)/(M−1)), as MAMBA-GINR's code computes it (``linspace(...).long()``); the rule
"round" rounds instead, as hinr's checkpoints made before the rule was fixed expect.
"""

from __future__ import annotations

import torch
from torch import nn

from ..layers.computed import computed
from ..layers.feedforward import MLP
from ..layers.mamba import BiMamba
from .tokenizer import PatchEmbed


class BiMambaBlock(nn.Module):
    """[LayerNorm → BiMamba, residual; LayerNorm → MLP, residual] (MAMBA-GINR's block)."""

    def __init__(self, *, dim: int, mlp_ratio: float, merge: str, d_state: int, d_conv: int,
                 expand: int) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.mixer = BiMamba(dim=dim, merge=merge, d_state=d_state, d_conv=d_conv, expand=expand)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = MLP(dim=dim, hidden_dim=int(dim * mlp_ratio))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (B, L, D) → (B, L, D)."""
        x = x + self.mixer(self.norm1(x))
        return x + self.mlp(self.norm2(x))


INTERLEAVE_RULES = ("mamba-ginr", "round")


def interleave_positions(num_patches: int, num_latents: int,
                         rule: str = "mamba-ginr") -> tuple[torch.Tensor, torch.Tensor]:
    """Sequence positions of the LP tokens (equidistant) and of the patch tokens (the rest).

    Returns (lp (M,), patches (L,)) as int64; together they index 0 … L+M−1 once each.
    """
    if rule not in INTERLEAVE_RULES:
        raise ValueError(f"unknown interleave rule {rule!r}; choose one of {INTERLEAVE_RULES}")
    last = num_patches + num_latents - 1
    index = torch.arange(num_latents, dtype=torch.int64, device="cpu")
    if num_latents == 1:
        lp = index  # a single LP token goes first, as linspace with one step gives
    elif rule == "mamba-ginr":  # exact integer floor, no float rounding at the ends
        lp = index * last // (num_latents - 1)
    else:
        lp = torch.linspace(0, last, num_latents, device="cpu").round().long()
    is_lp = torch.zeros(last + 1, dtype=torch.bool, device="cpu")
    is_lp[lp] = True
    return lp, torch.nonzero(~is_lp).squeeze(-1)


class MambaEncoder(nn.Module):
    def __init__(self, *, image_size: int, patch_size: int, dim: int, num_latents: int,
                 depth: int, mlp_ratio: float, placement: str, merge: str, d_state: int,
                 d_conv: int, expand: int, interleave: str) -> None:
        super().__init__()
        self.placement = placement
        self.patch_embed = PatchEmbed(image_size=image_size, patch_size=patch_size, dim=dim)
        # MAMBA-GINR draws LP tokens from randn; the pre-norm blocks see them at unit scale
        self.lp_tokens = nn.Parameter(computed((num_latents, dim), lambda: torch.randn(num_latents, dim)))
        self.blocks = nn.ModuleList(
            BiMambaBlock(dim=dim, mlp_ratio=mlp_ratio, merge=merge, d_state=d_state,
                         d_conv=d_conv, expand=expand) for _ in range(depth))
        self.norm = nn.LayerNorm(dim)
        num_patches = (image_size // patch_size) ** 2
        lp_pos, patch_pos = interleave_positions(num_patches, num_latents, interleave)
        self.register_buffer("lp_positions", lp_pos, persistent=False)
        self.register_buffer("patch_positions", patch_pos, persistent=False)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """images (B, 3, H, W) in [-1, 1] → latents (B, M, D)."""
        patches = self.patch_embed(images)  # (B, L, D)
        b, num_patches, dim = patches.shape
        lp = self.lp_tokens.to(patches.dtype).expand(b, -1, -1)
        if self.placement == "append":
            x = torch.cat([patches, lp], dim=1)
        else:
            x = patches.new_empty(b, num_patches + lp.shape[1], dim)
            x[:, self.patch_positions] = patches
            x[:, self.lp_positions] = lp
        for block in self.blocks:
            x = block(x)
        latents = x[:, -lp.shape[1]:] if self.placement == "append" else x[:, self.lp_positions]
        return self.norm(latents)
