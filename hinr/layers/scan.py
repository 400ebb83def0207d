"""Selective scans (the S6 recurrence of Mamba v1): a reference, a fast CPU path, a dispatcher.

Follows mamba_ssm's layout: the optional compiled kernel sits behind a guarded import, and a
pure-PyTorch reference whose docstring states every shape sits beside the fast path it must match.

Shapes (mamba_ssm's convention), B batch, D channels (d_inner), N state size, L tokens:
    u, delta, z: (B, D, L)    A: (D, N), real    B, C: (B, N, L)    D, delta_bias: (D,)

Math, per channel d and step t, with h_{-1} = 0:
    delta = softplus(delta + delta_bias)      (each part only if requested)
    h_t   = exp(delta_t * A) * h_{t-1} + delta_t * B_t * u_t
    y_t   = <C_t, h_t> + D * u_t,  then y *= silu(z) when z is given.

`selective_scan_fast` runs the recurrence in a custom autograd Function: the forward keeps every
state in one (L, B, D, N) buffer updated in place a time step at a time (no autograd graph), and
the backward is a reverse loop of the same shape followed by batched contractions. Everything
outside the recurrence (bias, softplus, skip, gate) stays under ordinary autograd.
"""

from __future__ import annotations

import functools

import torch
import torch.nn.functional as F
from einops import rearrange, reduce
from torch import Tensor

__all__ = [
    "cuda_kernel_available",
    "selective_scan",
    "selective_scan_fast",
    "selective_scan_ref",
]


def _compute_dtype(dtype: torch.dtype) -> torch.dtype:
    """float32, or float64 when the inputs already are: half precision never runs the scan."""
    return torch.promote_types(dtype, torch.float32)


def _check_shapes(u: Tensor, delta: Tensor, A: Tensor, B: Tensor, C: Tensor) -> None:
    if u.dim() != 3 or delta.shape != u.shape:
        raise ValueError(
            f"u and delta must both be (batch, d_inner, L); got {tuple(u.shape)} and "
            f"{tuple(delta.shape)}"
        )
    batch, d_inner, length = u.shape
    if length == 0:
        raise ValueError("the sequence is empty (L = 0); pass at least one token")
    if A.dim() != 2 or A.shape[0] != d_inner or A.is_complex():
        raise ValueError(f"A must be real (d_inner={d_inner}, d_state); got {tuple(A.shape)}")
    expected = (batch, A.shape[1], length)
    if tuple(B.shape) != expected or tuple(C.shape) != expected:
        raise ValueError(
            f"B and C must be (batch, d_state, L) = {expected}; got {tuple(B.shape)} and "
            f"{tuple(C.shape)} (constant or grouped B/C are not supported)"
        )


def _prepare_delta(delta: Tensor, delta_bias: Tensor | None, delta_softplus: bool) -> Tensor:
    if delta_bias is not None:
        delta = delta + rearrange(delta_bias.to(delta.dtype), "d -> d 1")
    if delta_softplus:
        delta = F.softplus(delta)
    return delta


def _inputs(u: Tensor, delta: Tensor, A: Tensor, B: Tensor, C: Tensor, delta_bias: Tensor | None,
            delta_softplus: bool) -> tuple[Tensor, ...]:
    """Every scan's prelude: shapes checked, cast to the compute dtype, delta biased and softplused."""
    _check_shapes(u, delta, A, B, C)
    dtype = _compute_dtype(u.dtype)
    u, delta, A, B, C = (t.to(dtype) for t in (u, delta, A, B, C))
    return u, _prepare_delta(delta, delta_bias, delta_softplus), A, B, C


def _finish(y: Tensor, u: Tensor, D: Tensor | None, z: Tensor | None, dtype: torch.dtype) -> Tensor:
    """Add the skip term D * u and the silu(z) gate, then return in the caller's dtype."""
    if D is not None:
        y = y + u * rearrange(D.to(y.dtype), "d -> d 1")
    if z is not None:
        y = y * F.silu(z.to(y.dtype))
    return y.to(dtype)


def selective_scan_ref(
    u: Tensor,
    delta: Tensor,
    A: Tensor,
    B: Tensor,
    C: Tensor,
    D: Tensor | None = None,
    z: Tensor | None = None,
    delta_bias: Tensor | None = None,
    delta_softplus: bool = False,
) -> Tensor:
    """Readable sequential selective scan: a Python loop over L under ordinary autograd.

    Args:
        u: (B, D_in, L) input.
        delta: (B, D_in, L) step sizes (before bias/softplus).
        A: (D_in, N) real state matrix (diagonal per channel; negative for a stable scan).
        B: (B, N, L) input-dependent input matrix, shared over channels.
        C: (B, N, L) input-dependent output matrix, shared over channels.
        D: optional (D_in,) skip weight.
        z: optional (B, D_in, L) gate, applied as silu(z).
        delta_bias: optional (D_in,) added to delta.
        delta_softplus: apply softplus to delta (after the bias).

    Returns:
        y: (B, D_in, L) in u's dtype; computed in float32 (float64 when u is float64).
    """
    out_dtype = u.dtype
    u, delta, A, B, C = _inputs(u, delta, A, B, C, delta_bias, delta_softplus)

    decay = torch.exp(torch.einsum("bdl,dn->bdln", delta, A))
    drive = torch.einsum("bdl,bnl,bdl->bdln", delta, B, u)
    h = u.new_zeros(u.shape[0], u.shape[1], A.shape[1])
    ys = []
    for t in range(u.shape[2]):
        h = decay[:, :, t] * h + drive[:, :, t]
        ys.append(torch.einsum("bdn,bn->bd", h, C[:, :, t]))
    y = torch.stack(ys, dim=2)
    return _finish(y, u, D, z, out_dtype)


# Size of each backward work buffer: a few MiB keeps a chunk of steps in cache.
_CHUNK_BYTES = 4 << 20


def _contract_n(x: Tensor, v: Tensor) -> Tensor:
    """sum_n x[l,b,d,n] * v[l,b,n] -> (L, B, D), as one batched matmul over (l, b)."""
    L, Bsz, Din, N = x.shape
    flat = torch.bmm(x.view(L * Bsz, Din, N), v.reshape(L * Bsz, N, 1))
    return rearrange(flat, "(l b) d 1 -> l b d", l=L)


def _contract_d(x: Tensor, v: Tensor) -> Tensor:
    """sum_d x[l,b,d,n] * v[l,b,d] -> (L, B, N), as one batched matmul over (l, b)."""
    L, Bsz, Din, N = x.shape
    flat = torch.bmm(v.reshape(L * Bsz, 1, Din), x.view(L * Bsz, Din, N))
    return rearrange(flat, "(l b) 1 n -> l b n", l=L)


class _SelectiveScanCore(torch.autograd.Function):
    """y_t = <C_t, h_t>, h_t = exp(delta_t A) h_{t-1} + delta_t B_t u_t, in (L, B, ...) layout.

    Inputs: u, delta (L, B, D); A (D, N); B, C (L, B, N), all contiguous, one float dtype.
    Output: y (L, B, D).
    """

    @staticmethod
    def forward(ctx, u: Tensor, delta: Tensor, A: Tensor, B: Tensor, C: Tensor) -> Tensor:
        drive_in = rearrange(delta * u, "l b d -> l b d 1")
        B_row = rearrange(B, "l b n -> l b 1 n")
        # One (L, B, D, N) buffer holds every state; step t writes the contiguous slice states[t].
        states = u.new_empty(*u.shape, A.shape[1])
        L, Bsz, Din, N = states.shape
        # The decays and drives of a chunk of T steps are computed in one call each (a per-step
        # exp costs more in call overhead than in arithmetic); the loop is left one addcmul a step.
        T = max(1, _CHUNK_BYTES // (Bsz * Din * N * states.element_size()))
        decay_buf = states.new_empty(T, Bsz, Din, N)
        torch.mul(drive_in, B_row, out=states)
        for s in range(1, L, T):
            e = min(L, s + T)
            decay = decay_buf[: e - s]
            torch.mul(rearrange(delta[s:e], "t b d -> t b d 1"), A, out=decay).exp_()
            for t in range(s, e):
                states[t].addcmul_(decay[t - s], states[t - 1])
        y = _contract_n(states, C)
        ctx.save_for_backward(u, delta, A, B, C, states)
        return y

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_y: Tensor):
        u, delta, A, B, C, states = ctx.saved_tensors
        L, Bsz, Din, N = states.shape
        grad_y = grad_y.contiguous()
        grad_C = _contract_d(states, grad_y)
        drive_in = delta * u
        grad_drive = torch.empty_like(u)  # d loss / d (delta * u), summed over n with B
        grad_decay_delta = torch.empty_like(u)
        grad_B = torch.empty_like(B)
        grad_A = torch.zeros_like(A)

        # Walk backwards in chunks of T steps: the (T, B, D, N) work buffers stay in cache and
        # are reused, where full-length buffers would cost a page fault per page on every call.
        T = max(1, _CHUNK_BYTES // (Bsz * Din * N * states.element_size()))
        grad_h_buf = states.new_empty(T, Bsz, Din, N)
        decay_buf = torch.empty_like(grad_h_buf)
        carry = None  # decay[t+1] * grad_h[t+1] for the first step after this chunk
        for end in range(L, 0, -T):
            s = max(0, end - T)
            grad_h, decay = grad_h_buf[: end - s], decay_buf[: end - s]
            # Gradient reaching each state: directly through y_t, plus through h_{t+1}.
            torch.mul(rearrange(grad_y[s:end], "t b d -> t b d 1"),
                      rearrange(C[s:end], "t b n -> t b 1 n"), out=grad_h)
            torch.mul(rearrange(delta[s:end], "t b d -> t b d 1"), A, out=decay).exp_()
            if carry is not None:
                grad_h[-1].add_(carry)
            for i in range(end - s - 2, -1, -1):
                grad_h[i].addcmul_(decay[i + 1], grad_h[i + 1])
            carry = decay[0] * grad_h[0]

            # Through the drive delta * B * u.
            grad_drive[s:end] = _contract_n(grad_h, B[s:end])
            grad_B[s:end] = _contract_d(grad_h, drive_in[s:end])

            # Through exp(delta * A): d/d(delta A) at step t is grad_h[t] * decay[t] * h[t-1],
            # built in place in `decay`; h[-1] = 0, so step 0 contributes nothing.
            decay.mul_(grad_h)
            if s == 0:
                decay[0].zero_()
                decay[1:].mul_(states[: end - 1])
            else:
                decay.mul_(states[s - 1 : end - 1])
            grad_decay_delta[s:end] = torch.einsum("tbdn,dn->tbd", decay, A)
            decay.mul_(rearrange(delta[s:end], "t b d -> t b d 1"))
            grad_A += reduce(decay, "t b d n -> d n", "sum")

        grad_u = grad_drive * delta
        grad_delta = grad_drive * u + grad_decay_delta
        return grad_u, grad_delta, grad_A, grad_B, grad_C


def _scan_no_grad(u: Tensor, delta: Tensor, A: Tensor, B: Tensor, C: Tensor) -> Tensor:
    """``_SelectiveScanCore``'s forward without keeping the states: chunks of T steps in one
    (T, B, D, N) buffer that stays in cache, each contracted with C before the next (inference
    reads a photo's lines; the full (L, B, D, N) buffer would be hundreds of MB)."""
    L, Bsz, Din = u.shape
    N = A.shape[1]
    T = max(1, _CHUNK_BYTES // (Bsz * Din * N * u.element_size()))
    states = u.new_empty(min(T, L), Bsz, Din, N)
    decay = torch.empty_like(states)
    y = u.new_empty(L, Bsz, Din)
    drive_in = rearrange(delta * u, "l b d -> l b d 1")
    for s in range(0, L, T):
        e = min(L, s + T)
        h, a = states[: e - s], decay[: e - s]
        torch.mul(drive_in[s:e], rearrange(B[s:e], "t b n -> t b 1 n"), out=h)
        torch.mul(rearrange(delta[s:e], "t b d -> t b d 1"), A, out=a).exp_()
        if s > 0:  # the state carried over from the previous chunk sits in states[T − 1]
            h[0].addcmul_(a[0], carry)
        for t in range(1, e - s):
            h[t].addcmul_(a[t], h[t - 1])
        y[s:e] = _contract_n(h, C[s:e].contiguous())
        carry = h[-1].clone()
    return y


def selective_scan_fast(
    u: Tensor,
    delta: Tensor,
    A: Tensor,
    B: Tensor,
    C: Tensor,
    D: Tensor | None = None,
    z: Tensor | None = None,
    delta_bias: Tensor | None = None,
    delta_softplus: bool = False,
) -> Tensor:
    """Same contract as `selective_scan_ref`, with the recurrence in a hand-written Function.

    Args and shapes as in `selective_scan_ref`; returns y (B, D_in, L) in u's dtype. Memory: two
    (L, B, D_in, N) buffers in the forward (one kept for backward), three in the backward.
    """
    out_dtype = u.dtype
    u, delta, A, B, C = _inputs(u, delta, A, B, C, delta_bias, delta_softplus)

    def to_lb(t: Tensor, pattern: str) -> Tensor:
        return rearrange(t, pattern).contiguous()

    needs_grad = torch.is_grad_enabled() and any(t.requires_grad for t in (u, delta, A, B, C))
    scan = _SelectiveScanCore.apply if needs_grad else _scan_no_grad
    y = scan(
        to_lb(u, "b d l -> l b d"),
        to_lb(delta, "b d l -> l b d"),
        A.contiguous(),
        to_lb(B, "b n l -> l b n"),
        to_lb(C, "b n l -> l b n"),
    )
    return _finish(rearrange(y, "l b d -> b d l"), u, D, z, out_dtype)


@functools.lru_cache(maxsize=1)
def cuda_kernel_available() -> bool:
    """True when mamba_ssm's compiled selective-scan kernel (`selective_scan_cuda`) imports."""
    try:
        import selective_scan_cuda  # noqa: F401
        from mamba_ssm.ops.selective_scan_interface import selective_scan_fn  # noqa: F401
    except Exception:  # ImportError, or OSError from a kernel built against another CUDA/torch
        return False
    return True


def selective_scan(
    u: Tensor,
    delta: Tensor,
    A: Tensor,
    B: Tensor,
    C: Tensor,
    D: Tensor | None = None,
    z: Tensor | None = None,
    delta_bias: Tensor | None = None,
    delta_softplus: bool = False,
) -> Tensor:
    """Selective scan on the fastest available path; same contract as `selective_scan_ref`.

    CUDA inputs use mamba_ssm's `selective_scan_fn` when its kernel is installed; everything else
    uses `selective_scan_fast`. mamba-ssm is never required.
    """
    if u.is_cuda and cuda_kernel_available():
        from mamba_ssm.ops.selective_scan_interface import selective_scan_fn

        return selective_scan_fn(
            u, delta, A, B, C, D=D, z=z, delta_bias=delta_bias, delta_softplus=delta_softplus
        )
    return selective_scan_fast(
        u, delta, A, B, C, D=D, z=z, delta_bias=delta_bias, delta_softplus=delta_softplus
    )
