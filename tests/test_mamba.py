"""Mamba keeps mamba_ssm's parameters and initialisation, is causal, and BiMamba sees both ways."""

import math

import pytest
import torch

from hinr.layers import BiMamba, Mamba

D_MODEL, D_STATE, LENGTH = 8, 4, 6


def make_mamba(seed=0, **kwargs):
    torch.manual_seed(seed)
    return Mamba(d_model=D_MODEL, d_state=D_STATE, **kwargs)


def tokens(seed=1, batch=2, length=LENGTH, dim=D_MODEL, dtype=torch.float32):
    return torch.randn(batch, length, dim, generator=torch.Generator().manual_seed(seed),
                       dtype=dtype)


def test_state_dict_matches_mamba_ssm_names_and_shapes():
    m = make_mamba()
    d_inner, dt_rank = 2 * D_MODEL, math.ceil(D_MODEL / 16)
    expected = {
        "in_proj.weight": (2 * d_inner, D_MODEL),
        "conv1d.weight": (d_inner, 1, 4),
        "conv1d.bias": (d_inner,),
        "x_proj.weight": (dt_rank + 2 * D_STATE, d_inner),
        "dt_proj.weight": (d_inner, dt_rank),
        "dt_proj.bias": (d_inner,),
        "A_log": (d_inner, D_STATE),
        "D": (d_inner,),
        "out_proj.weight": (D_MODEL, d_inner),
    }
    assert {k: tuple(v.shape) for k, v in m.state_dict().items()} == expected
    assert Mamba(d_model=40).dt_rank == 3
    assert m.A_log._no_weight_decay and m.D._no_weight_decay


def test_ssm_initialisation():
    dt_min, dt_max = 1e-3, 0.1
    m = Mamba(d_model=32, d_state=D_STATE, dt_min=dt_min, dt_max=dt_max, dt_scale=2.0)
    expected_A = torch.arange(1, D_STATE + 1, dtype=torch.float32).expand(64, D_STATE)
    torch.testing.assert_close(torch.exp(m.A_log), expected_A)
    torch.testing.assert_close(m.D, torch.ones(64), rtol=0, atol=0)
    dt = torch.nn.functional.softplus(m.dt_proj.bias)
    assert dt.min() >= dt_min * (1 - 1e-4) and dt.max() <= dt_max * (1 + 1e-4)
    assert m.dt_proj.weight.abs().max() <= m.dt_rank**-0.5 * 2.0


def test_ref_and_fast_scans_give_the_same_outputs_and_grads():
    fast = make_mamba(scan="fast")
    ref = make_mamba(scan="ref")
    ref.load_state_dict(fast.state_dict())
    x = tokens().requires_grad_()
    out_fast, out_ref = fast(x), ref(x)
    assert out_fast.shape == x.shape
    torch.testing.assert_close(out_fast, out_ref, rtol=1e-5, atol=1e-6)
    (gx_fast,) = torch.autograd.grad(out_fast.square().sum(), x)
    (gx_ref,) = torch.autograd.grad(out_ref.square().sum(), x)
    torch.testing.assert_close(gx_fast, gx_ref, rtol=1e-5, atol=1e-6)
    for (name, p_fast), p_ref in zip(fast.named_parameters(), ref.parameters()):
        torch.testing.assert_close(p_fast.grad, p_ref.grad, rtol=1e-5, atol=1e-6, msg=name)


def test_mamba_is_causal():
    m = make_mamba()
    x = tokens()
    t = 3
    x2 = x.clone()
    x2[:, t] += 1.0
    with torch.no_grad():
        y, y2 = m(x), m(x2)
    torch.testing.assert_close(y2[:, :t], y[:, :t], rtol=0, atol=0)
    assert not torch.allclose(y2[:, t:], y[:, t:])


@pytest.mark.parametrize("merge", ["mean", "concat"])
def test_bimamba_sees_past_and_future(merge):
    torch.manual_seed(0)
    bi = BiMamba(dim=D_MODEL, merge=merge, d_state=D_STATE)
    x = tokens()
    t = 3
    x2 = x.clone()
    x2[:, t] += 1.0
    with torch.no_grad():
        y, y2 = bi(x), bi(x2)
    assert y.shape == x.shape
    assert not torch.allclose(y2[:, :t], y[:, :t])  # through the backward mixer
    assert not torch.allclose(y2[:, t + 1:], y[:, t + 1:])  # through the forward mixer


def test_bimamba_mean_is_the_average_of_both_directions():
    torch.manual_seed(0)
    bi = BiMamba(dim=D_MODEL, d_state=D_STATE)
    x = tokens()
    expected = (bi.fwd(x) + bi.bwd(x.flip(1)).flip(1)) / 2
    torch.testing.assert_close(bi(x), expected)
    assert not torch.equal(bi.fwd.in_proj.weight, bi.bwd.in_proj.weight)


@pytest.mark.parametrize("module", ["mamba", "bimamba-concat"])
def test_every_parameter_gets_a_gradient(module):
    torch.manual_seed(0)
    if module == "mamba":
        net = Mamba(d_model=D_MODEL, d_state=D_STATE, bias=True)
    else:
        net = BiMamba(dim=D_MODEL, merge="concat", d_state=D_STATE)
    net(tokens()).square().mean().backward()
    for name, p in net.named_parameters():
        assert p.grad is not None, name
        assert torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0, name


def test_bf16_autocast_on_cpu_runs_and_is_finite():
    m = make_mamba()
    with torch.autocast(device_type="cpu", dtype=torch.bfloat16):
        y = m(tokens())
    assert y.shape == (2, LENGTH, D_MODEL)
    assert torch.isfinite(y.float()).all()


def test_float64_module_keeps_float64():
    m = make_mamba().double()
    y = m(tokens(dtype=torch.float64))
    assert y.dtype == torch.float64


def test_bad_arguments_say_what_is_allowed():
    with pytest.raises(ValueError, match="scan must be one of"):
        Mamba(d_model=D_MODEL, scan="cuda")
    with pytest.raises(ValueError, match="merge must be"):
        BiMamba(dim=D_MODEL, merge="sum")
