"""The Mamba (v1) mixer in pure PyTorch, and BiMamba: two mixers reading in opposite directions.

Follows mamba_ssm's `Mamba` block: the same parameter names (`in_proj, conv1d, x_proj, dt_proj,
A_log, D, out_proj`), shapes and initialisation, so its checkpoints load with `strict=True`; the
selective scan comes from `hinr.layers.scan` (mamba_ssm's CUDA kernel when installed). BiMamba
follows MAMBA-GINR: separate weights per direction, outputs averaged (or concatenated and
projected).
"""

from __future__ import annotations

import math
from typing import Literal

import torch
import torch.nn.functional as F
from einops import rearrange, repeat
from torch import Tensor, nn

from .computed import on_meta
from .scan import selective_scan, selective_scan_fast, selective_scan_ref

__all__ = ["BiMamba", "Mamba"]

_SCANS = {"auto": selective_scan, "fast": selective_scan_fast, "ref": selective_scan_ref}


class Mamba(nn.Module):
    """Mamba v1 mixer: gated, causally convolved, input-dependent (selective) state-space scan.

    d_inner = expand * d_model; dt_rank "auto" = ceil(d_model / 16). `scan` picks the scan:
    "auto" (mamba_ssm's kernel on CUDA when installed, else the fast PyTorch scan), "fast" or
    "ref". The scan always runs in float32 (float64 for a float64 module), autocast or not.
    """

    def __init__(
        self,
        *,
        d_model: int,
        d_state: int = 16,
        d_conv: int = 4,
        expand: int = 2,
        dt_rank: int | Literal["auto"] = "auto",
        dt_min: float = 1e-3,
        dt_max: float = 0.1,
        dt_init: Literal["random", "constant"] = "random",
        dt_scale: float = 1.0,
        dt_init_floor: float = 1e-4,
        conv_bias: bool = True,
        bias: bool = False,
        scan: Literal["auto", "fast", "ref"] = "auto",
    ) -> None:
        super().__init__()
        if scan not in _SCANS:
            raise ValueError(f"scan must be one of {sorted(_SCANS)}; got {scan!r}")
        if dt_init not in ("random", "constant"):
            raise ValueError(f"dt_init must be 'random' or 'constant'; got {dt_init!r}")
        if not 0 < dt_min <= dt_max:
            raise ValueError(f"need 0 < dt_min <= dt_max; got dt_min={dt_min}, dt_max={dt_max}")
        self.d_model = d_model
        self.d_state = d_state
        self.d_conv = d_conv
        self.expand = expand
        self.d_inner = expand * d_model
        self.dt_rank = math.ceil(d_model / 16) if dt_rank == "auto" else int(dt_rank)
        self.scan = scan

        self.in_proj = nn.Linear(d_model, 2 * self.d_inner, bias=bias)
        self.conv1d = nn.Conv1d(
            self.d_inner, self.d_inner, kernel_size=d_conv, groups=self.d_inner,
            padding=d_conv - 1, bias=conv_bias,
        )
        self.x_proj = nn.Linear(self.d_inner, self.dt_rank + 2 * d_state, bias=False)
        self.dt_proj = nn.Linear(self.dt_rank, self.d_inner, bias=True)
        self.A_log = nn.Parameter(torch.empty(self.d_inner, d_state))
        self.D = nn.Parameter(torch.empty(self.d_inner))
        self.out_proj = nn.Linear(self.d_inner, d_model, bias=bias)
        # Decay rates and the skip are not regularised toward zero (as in mamba_ssm).
        self.A_log._no_weight_decay = True
        self.D._no_weight_decay = True
        self._init_ssm(dt_min=dt_min, dt_max=dt_max, dt_init=dt_init, dt_scale=dt_scale,
                       dt_init_floor=dt_init_floor)

    @torch.no_grad()
    def _init_ssm(self, *, dt_min: float, dt_max: float, dt_init: str, dt_scale: float,
                  dt_init_floor: float) -> None:
        """mamba_ssm's initialisation of the state-space parameters (the Linears keep torch's)."""
        if on_meta():  # shapes only (hinr.layers.computed)
            return
        # dt_proj weight: keeps the variance of dt's pre-activation independent of dt_rank.
        std = self.dt_rank**-0.5 * dt_scale
        if dt_init == "constant":
            nn.init.constant_(self.dt_proj.weight, std)
        else:
            nn.init.uniform_(self.dt_proj.weight, -std, std)
        # dt_proj bias: softplus(bias) starts log-uniform in [dt_min, dt_max], so channels begin
        # with time scales spread over two decades.
        dt = torch.exp(
            torch.rand(self.d_inner) * (math.log(dt_max) - math.log(dt_min)) + math.log(dt_min)
        ).clamp(min=dt_init_floor)
        self.dt_proj.bias.copy_(dt + torch.log(-torch.expm1(-dt)))  # inverse of softplus
        self.dt_proj.bias._no_reinit = True
        # A = -(1..N) per channel (S4D-real): a spread of decay rates, stored as a log so A < 0.
        a = repeat(torch.arange(1, self.d_state + 1, dtype=torch.float32), "n -> d n",
                   d=self.d_inner)
        self.A_log.copy_(torch.log(a))
        # D = 1: the skip connection starts as an identity.
        self.D.fill_(1.0)

    def forward(self, hidden_states: Tensor) -> Tensor:
        """(B, L, d_model) -> (B, L, d_model); output t depends only on inputs 0..t."""
        length = hidden_states.shape[1]
        xz = rearrange(self.in_proj(hidden_states), "b l e -> b e l")
        x, z = xz.chunk(2, dim=1)  # each (B, d_inner, L)
        # Causal depthwise conv: padding d_conv - 1 on both sides, keep the first L outputs.
        x = F.silu(self.conv1d(x)[..., :length])

        x_dbl = self.x_proj(rearrange(x, "b d l -> b l d"))
        dt, B, C = torch.split(x_dbl, [self.dt_rank, self.d_state, self.d_state], dim=-1)
        dt = rearrange(F.linear(dt, self.dt_proj.weight), "b l d -> b d l")  # bias goes in scan
        B = rearrange(B, "b l n -> b n l")
        C = rearrange(C, "b l n -> b n l")

        # The recurrence multiplies L decays together: half precision would lose it.
        io_dtype = x.dtype
        dtype = torch.promote_types(io_dtype, torch.float32)
        with torch.autocast(device_type=x.device.type, enabled=False):
            A = -torch.exp(self.A_log.to(dtype))
            y = _SCANS[self.scan](
                x.to(dtype), dt.to(dtype), A, B.to(dtype).contiguous(), C.to(dtype).contiguous(),
                D=self.D.to(dtype), z=z.to(dtype), delta_bias=self.dt_proj.bias.to(dtype),
                delta_softplus=True,
            )
        return self.out_proj(rearrange(y.to(io_dtype), "b d l -> b l d"))


class BiMamba(nn.Module):
    """Bidirectional Mamba (MAMBA-GINR): a forward and a backward mixer with separate weights.

    merge "mean": (fwd(x) + flip(bwd(flip(x)))) / 2; "concat": a Linear (2 dim -> dim) over the
    two outputs. Extra keyword arguments go to both `Mamba` mixers.
    """

    def __init__(self, *, dim: int, merge: Literal["mean", "concat"] = "mean",
                 **mamba_kwargs) -> None:
        super().__init__()
        if merge not in ("mean", "concat"):
            raise ValueError(f"merge must be 'mean' or 'concat'; got {merge!r}")
        self.merge = merge
        self.fwd = Mamba(d_model=dim, **mamba_kwargs)
        self.bwd = Mamba(d_model=dim, **mamba_kwargs)
        if merge == "concat":
            self.merge_proj = nn.Linear(2 * dim, dim)

    def forward(self, x: Tensor) -> Tensor:
        """(B, L, D) -> (B, L, D); every output token sees the whole sequence."""
        forward_out = self.fwd(x)
        backward_out = torch.flip(self.bwd(torch.flip(x, dims=[1])), dims=[1])
        if self.merge == "mean":
            return (forward_out + backward_out) / 2
        return self.merge_proj(torch.cat([forward_out, backward_out], dim=-1))
