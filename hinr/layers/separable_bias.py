"""An additive attention-logit bias given as a product of per-query and per-key factors.

A bias of the form ``bias[b, h, q, m] = ⟨f(b, h, q), g(h, m)⟩ + c(b, h, q)`` (anything constant
along m drops out of the softmax) need not be materialised as a (B, H, Q, M) tensor: appending
``f / scale`` to the queries and ``g`` to the keys makes the attention kernel add it to q·k for
free. For the decoder's 2D locality bias this removes the largest tensor of a render and lets
SDPA use its fused kernel (benchmarks/RESULTS.md has the speed-up).

The fold is exact in fp32 but not in bf16: the factors are large (hundreds to thousands) and
cancel, so in bf16 they would lose the small differences that matter. Low-precision attention
(bf16 autocast) is therefore run in fp32 with the fold — still faster on the CPU than a
materialised bf16 bias, and more accurate.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

FOLDABLE = (torch.float32, torch.float64)


@dataclass
class SeparableBias:
    query: torch.Tensor  # (B, H, Q, R), in logit units
    key: torch.Tensor  # (H, M, R) or (1, M, R)

    def attend(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, *,
               dropout_p: float = 0.0) -> torch.Tensor:
        """SDPA with this bias. q (B, H, Q, d), k and v (B, H, M, d), any float dtypes →
        (B, H, Q, d) in q's dtype; computed in q's dtype, or in fp32 when q is bf16/fp16."""
        if q.dtype not in FOLDABLE:
            out = self.attend(q.float(), k, v, dropout_p=dropout_p)
            return out.to(q.dtype)
        k, v = k.to(q.dtype), v.to(q.dtype)
        b, h, _, d = q.shape
        scale = d**-0.5
        # q, k and v all padded to one width, a multiple of 8: SDPA's fused kernels need equal
        # widths (a narrower v falls back to the slow unfused path on the CPU) and aligned ones
        # (CUDA's memory-efficient kernel); the padding's output columns are dropped
        width = -(-(d + self.query.shape[-1]) // 8) * 8
        pad = width - d - self.query.shape[-1]
        q = F.pad(torch.cat([q, (self.query / scale).to(q.dtype)], dim=-1), (0, pad))
        k = F.pad(torch.cat([k, self.key.to(k.dtype).expand(b, h, -1, -1)], dim=-1), (0, pad))
        v = F.pad(v, (0, width - d))
        out = F.scaled_dot_product_attention(q, k, v, dropout_p=dropout_p, scale=scale)
        return out[..., :d]
