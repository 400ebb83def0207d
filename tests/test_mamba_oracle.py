"""An oracle for the selective scan and the Mamba mixer that shares no code with hinr.

The other Mamba tests compare the fast scan with hinr's own reference, so a mistake in what both
share (the gate, the decay, the convolution) passes them. Here the math is written again from the
Mamba paper (Gu & Dao 2023, Algorithm 2 and Section 3.4), in float64, as explicit loops:

    Δ_t  = softplus(dt_t + dt_bias)            (each part only where the test asks for it)
    h_t  = exp(Δ_t A) ⊙ h_{t-1} + Δ_t B_t x_t,  h_{-1} = 0
    y_t  = <C_t, h_t> + D x_t,   then y_t ⊙ silu(z_t)

and, for the mixer, a causal depthwise convolution with d_conv taps (tap d_conv − 1 on the
current token) followed by silu before the scan. Two fixtures were computed once with scalar
arithmetic (plain Python floats, no torch) from the same equations and are written in as literals.
"""

import math

import pytest
import torch

from hinr.layers import BiMamba, Mamba
from hinr.layers.scan import selective_scan, selective_scan_fast, selective_scan_ref

SCANS = {"ref": selective_scan_ref, "fast": selective_scan_fast, "dispatch": selective_scan}
F64 = dict(rtol=1e-10, atol=1e-12)


# --- the oracle --------------------------------------------------------------------------------
def oracle_silu(v: torch.Tensor) -> torch.Tensor:
    return v / (1.0 + torch.exp(-v))


def oracle_softplus(v: torch.Tensor) -> torch.Tensor:
    return torch.log1p(torch.exp(v))


def oracle_scan(u, delta, A, B, C, D=None, z=None, delta_bias=None, delta_softplus=False):
    """Shapes as mamba_ssm: u, delta, z (b, d, L); A (d, n); B, C (b, n, L); D, delta_bias (d,)."""
    batch, channels, length = u.shape
    states = A.shape[1]
    out = torch.zeros(batch, channels, length, dtype=torch.float64)
    for b in range(batch):
        for d in range(channels):
            h = [torch.zeros((), dtype=torch.float64) for _ in range(states)]
            for t in range(length):
                step = delta[b, d, t] + (delta_bias[d] if delta_bias is not None else 0.0)
                if delta_softplus:
                    step = oracle_softplus(step)
                y = torch.zeros((), dtype=torch.float64)
                for n in range(states):
                    h[n] = torch.exp(step * A[d, n]) * h[n] + step * B[b, n, t] * u[b, d, t]
                    y = y + C[b, n, t] * h[n]
                if D is not None:
                    y = y + D[d] * u[b, d, t]
                if z is not None:
                    y = y * oracle_silu(z[b, d, t])
                out[b, d, t] = y
    return out


def oracle_causal_conv(x, weight, bias):
    """x (b, d, L), weight (d, K), bias (d,): out_t = bias + Σ_k weight[k] x_{t−(K−1)+k}."""
    batch, channels, length = x.shape
    taps = weight.shape[1]
    out = torch.zeros(batch, channels, length, dtype=torch.float64)
    for b in range(batch):
        for d in range(channels):
            for t in range(length):
                acc = bias[d].clone()
                for k in range(taps):
                    source = t - (taps - 1) + k
                    if source >= 0:  # tokens before the sequence are zeros
                        acc = acc + weight[d, k] * x[b, d, source]
                out[b, d, t] = acc
    return out


def oracle_mamba(m: Mamba, hidden: torch.Tensor) -> torch.Tensor:
    """The Mamba mixer (B, L, d_model) → (B, L, d_model) from m's parameters, in float64."""
    p = {k: v.detach().double() for k, v in m.state_dict().items()}
    x = hidden.double()
    xz = x @ p["in_proj.weight"].T  # (B, L, 2 d_inner); the test mixers have no in_proj bias
    xs = xz[..., : m.d_inner].transpose(1, 2)
    z = xz[..., m.d_inner:].transpose(1, 2)
    xs = oracle_silu(oracle_causal_conv(xs, p["conv1d.weight"][:, 0], p["conv1d.bias"]))
    x_dbl = xs.transpose(1, 2) @ p["x_proj.weight"].T  # (B, L, dt_rank + 2 d_state)
    dt = x_dbl[..., : m.dt_rank]
    B = x_dbl[..., m.dt_rank: m.dt_rank + m.d_state].transpose(1, 2)
    C = x_dbl[..., m.dt_rank + m.d_state:].transpose(1, 2)
    delta = (dt @ p["dt_proj.weight"].T).transpose(1, 2)
    A = -torch.exp(p["A_log"])
    y = oracle_scan(xs, delta, A, B, C, D=p["D"], z=z, delta_bias=p["dt_proj.bias"],
                    delta_softplus=True)
    return y.transpose(1, 2) @ p["out_proj.weight"].T


# --- cases ---------------------------------------------------------------------------------------
def scan_inputs(seed=0, batch=2, channels=3, states=4, length=6):
    g = torch.Generator().manual_seed(seed)

    def randn(*shape, scale=1.0):
        return scale * torch.randn(*shape, generator=g, dtype=torch.float64)

    return dict(
        u=randn(batch, channels, length),
        delta=randn(batch, channels, length, scale=0.5),
        A=-torch.rand(channels, states, generator=g, dtype=torch.float64) - 0.2,
        B=randn(batch, states, length),
        C=randn(batch, states, length),
        D=randn(channels),
        z=randn(batch, channels, length),
        delta_bias=randn(channels, scale=0.3),
    )


def random_mixer(seed=0, d_model=4, d_state=3, scan="ref"):
    """A float64 mixer whose A, D and conv bias are moved off their initial values."""
    torch.manual_seed(seed)
    m = Mamba(d_model=d_model, d_state=d_state, scan=scan).double()
    with torch.no_grad():
        m.A_log.add_(0.3 * torch.randn_like(m.A_log))
        m.D.copy_(torch.randn_like(m.D))
        m.conv1d.bias.copy_(torch.randn_like(m.conv1d.bias))
        m.dt_proj.bias.add_(1.0)  # larger steps: the decay differs clearly from one
    return m


@pytest.mark.parametrize("scan", sorted(SCANS))
@pytest.mark.parametrize("parts", ["all", "no-gate", "no-skip-no-bias", "raw-delta"])
def test_scan_matches_the_paper_equations(scan, parts):
    inputs = scan_inputs()
    softplus = parts != "raw-delta"
    if parts == "no-gate":
        del inputs["z"]
    elif parts == "no-skip-no-bias":
        del inputs["D"], inputs["delta_bias"]
    elif parts == "raw-delta":
        inputs["delta"] = inputs["delta"].abs()  # positive steps without softplus
    got = SCANS[scan](**inputs, delta_softplus=softplus)
    torch.testing.assert_close(got, oracle_scan(**inputs, delta_softplus=softplus), **F64)


@pytest.mark.parametrize("scan", ["ref", "fast"])
def test_scan_gradients_match_the_paper_equations(scan):
    inputs = {k: v.requires_grad_() for k, v in scan_inputs(seed=1, length=5).items()}
    weights = torch.linspace(-1, 1, 2 * 3 * 5, dtype=torch.float64).reshape(2, 3, 5)
    ours = torch.autograd.grad((SCANS[scan](**inputs, delta_softplus=True) * weights).sum(),
                               list(inputs.values()))
    theirs = torch.autograd.grad((oracle_scan(**inputs, delta_softplus=True) * weights).sum(),
                                 list(inputs.values()))
    for name, g_ours, g_theirs in zip(inputs, ours, theirs):
        torch.testing.assert_close(g_ours, g_theirs, **F64, msg=name)


# Fixture: one channel, two states, three steps; y computed once with scalar arithmetic.
HAND_SCAN = dict(
    u=[1.0, -2.0, 0.5], delta=[0.3, -0.4, 0.0], delta_bias=[0.2], A=[[-1.0, -0.5]],
    B=[[1.0, 0.5, -1.0], [0.0, 2.0, 1.0]], C=[[0.5, -1.0, 2.0], [1.0, 1.0, 0.5]], D=[0.25],
    z=[0.0, 1.0, -2.0],
)
HAND_SCAN_Y = [0.0, -2.068893767145895, 0.31769076687156045]  # silu(0) = 0 zeroes the first step
HAND_SCAN_Y_UNGATED = [0.7370384920900533, -2.8299972500466066, -1.3325628326989098]


def hand_scan_inputs(gate=True):
    shapes = dict(u=(1, 1, 3), delta=(1, 1, 3), z=(1, 1, 3), B=(1, 2, 3), C=(1, 2, 3),
                  A=(1, 2), D=(1,), delta_bias=(1,))
    out = {k: torch.tensor(v, dtype=torch.float64).reshape(shapes[k]) for k, v in HAND_SCAN.items()}
    if not gate:
        del out["z"]
    return out


@pytest.mark.parametrize("scan", sorted(SCANS))
def test_scan_reproduces_hand_computed_values(scan):
    gated = SCANS[scan](**hand_scan_inputs(), delta_softplus=True)
    ungated = SCANS[scan](**hand_scan_inputs(gate=False), delta_softplus=True)
    torch.testing.assert_close(gated.flatten(), torch.tensor(HAND_SCAN_Y, dtype=torch.float64),
                               **F64)
    torch.testing.assert_close(ungated.flatten(),
                               torch.tensor(HAND_SCAN_Y_UNGATED, dtype=torch.float64), **F64)


def test_oracle_reproduces_hand_computed_values():
    """The oracle itself agrees with the scalar computation (so it is not wrong the same way)."""
    got = oracle_scan(**hand_scan_inputs(), delta_softplus=True)
    torch.testing.assert_close(got.flatten(), torch.tensor(HAND_SCAN_Y, dtype=torch.float64),
                               **F64)


@pytest.mark.parametrize("scan", ["ref", "fast"])
def test_mixer_matches_the_paper_equations(scan):
    m = random_mixer(scan=scan)
    hidden = torch.randn(2, 7, 4, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    with torch.no_grad():
        torch.testing.assert_close(m(hidden), oracle_mamba(m, hidden), **F64)


def test_causal_conv_oracle_uses_only_the_past():
    """Guards the oracle's own indexing: the last tap is the current token, the first t − 3."""
    x = torch.zeros(1, 1, 6, dtype=torch.float64)
    x[0, 0, 2] = 1.0
    out = oracle_causal_conv(x, torch.tensor([[1.0, 2.0, 3.0, 4.0]], dtype=torch.float64),
                             torch.zeros(1, dtype=torch.float64))
    assert out.flatten().tolist() == [0.0, 0.0, 4.0, 3.0, 2.0, 1.0]


# Fixture: a mixer with d_model 1 (d_inner 2, dt_rank 1, d_state 1), five tokens; outputs computed
# once with scalar arithmetic. The token 0.0 has z = 0, so silu gives exactly 0 there.
HAND_MIXER = {
    "in_proj.weight": [[0.8], [-0.6], [1.2], [0.4]],
    "conv1d.weight": [[[0.1, -0.2, 0.3, 0.9]], [[0.5, 0.25, -0.5, 1.0]]],
    "conv1d.bias": [0.05, -0.1],
    "x_proj.weight": [[0.3, -0.7], [0.6, 0.2], [-0.4, 0.9]],
    "dt_proj.weight": [[1.5], [-0.5]],
    "dt_proj.bias": [-1.0, 0.5],
    "A_log": [[0.0], [math.log(2.0)]],
    "D": [1.0, 0.5],
    "out_proj.weight": [[0.7, -1.1]],
}
HAND_MIXER_IN = [0.5, -1.0, 2.0, 0.0, 1.5]
HAND_MIXER_OUT = [0.07529253296955585, 0.07435647825209275, 1.194326896998833, 0.0,
                  0.48716614733376107]


@pytest.mark.parametrize("scan", ["ref", "fast", "auto"])
def test_mixer_reproduces_hand_computed_values(scan):
    m = Mamba(d_model=1, d_state=1, scan=scan).double()
    m.load_state_dict({k: torch.tensor(v, dtype=torch.float64) for k, v in HAND_MIXER.items()})
    hidden = torch.tensor(HAND_MIXER_IN, dtype=torch.float64).reshape(1, 5, 1)
    with torch.no_grad():
        out = m(hidden).flatten()
        torch.testing.assert_close(out, torch.tensor(HAND_MIXER_OUT, dtype=torch.float64), **F64)
        torch.testing.assert_close(oracle_mamba(m, hidden).flatten(), out, **F64)


def test_bimamba_mean_matches_the_oracle():
    torch.manual_seed(0)
    bi = BiMamba(dim=4, d_state=3, scan="fast").double()
    hidden = torch.randn(1, 6, 4, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    expected = (oracle_mamba(bi.fwd, hidden) + oracle_mamba(bi.bwd, hidden.flip(1)).flip(1)) / 2
    with torch.no_grad():
        torch.testing.assert_close(bi(hidden), expected, **F64)
