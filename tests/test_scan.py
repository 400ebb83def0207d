"""The fast selective scan matches the reference (outputs and every gradient), and the dispatcher."""

import itertools

import pytest
import torch

import hinr.layers.scan as scan_module
from hinr.layers.scan import (
    selective_scan,
    selective_scan_fast,
    selective_scan_ref,
)

TOL = {torch.float32: dict(rtol=1e-5, atol=1e-5), torch.float64: dict(rtol=1e-10, atol=1e-10)}


def make_inputs(*, batch=2, d_inner=3, d_state=4, length=7, dtype=torch.float32, seed=0,
                with_D=True, with_z=True, with_bias=True):
    """Random scan inputs in mamba_ssm's shapes; A negative as in a Mamba layer."""
    g = torch.Generator().manual_seed(seed)

    def randn(*shape, scale=1.0):
        return (scale * torch.randn(*shape, generator=g, dtype=dtype)).requires_grad_()

    inputs = dict(
        u=randn(batch, d_inner, length),
        delta=randn(batch, d_inner, length, scale=0.5),
        A=(-torch.rand(d_inner, d_state, generator=g, dtype=dtype) - 0.1).requires_grad_(),
        B=randn(batch, d_state, length),
        C=randn(batch, d_state, length),
    )
    if with_D:
        inputs["D"] = randn(d_inner)
    if with_z:
        inputs["z"] = randn(batch, d_inner, length)
    if with_bias:
        inputs["delta_bias"] = randn(d_inner, scale=0.3)
    return inputs


def output_and_grads(scan, inputs, **kwargs):
    y = scan(**inputs, **kwargs)
    weights = torch.linspace(-1, 1, y.numel(), dtype=y.dtype).reshape(y.shape)
    grads = torch.autograd.grad((y * weights).sum(), list(inputs.values()))
    return y, dict(zip(inputs, grads))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize(
    "with_D,with_z,with_bias,softplus", list(itertools.product([False, True], repeat=4))
)
def test_fast_matches_ref(dtype, with_D, with_z, with_bias, softplus):
    inputs = make_inputs(dtype=dtype, with_D=with_D, with_z=with_z, with_bias=with_bias)
    delta_softplus = softplus
    if not softplus:  # keep delta positive so the scan stays stable without softplus
        inputs["delta"] = inputs["delta"].detach().abs().requires_grad_()
    y_ref, g_ref = output_and_grads(selective_scan_ref, inputs, delta_softplus=delta_softplus)
    y_fast, g_fast = output_and_grads(selective_scan_fast, inputs, delta_softplus=delta_softplus)
    assert y_fast.dtype == dtype and y_fast.shape == inputs["u"].shape
    torch.testing.assert_close(y_fast, y_ref, **TOL[dtype])
    for name in inputs:
        torch.testing.assert_close(g_fast[name], g_ref[name], **TOL[dtype], msg=name)


@pytest.mark.parametrize("chunk_bytes", [1, 3 * 2 * 3 * 4 * 8])
def test_fast_matches_ref_across_backward_chunks(monkeypatch, chunk_bytes):
    # Chunks of 1 and 3 steps (L = 7 is not a multiple) exercise the carry between chunks.
    monkeypatch.setattr(scan_module, "_CHUNK_BYTES", chunk_bytes)
    inputs = make_inputs(dtype=torch.float64, seed=1)
    y_ref, g_ref = output_and_grads(selective_scan_ref, inputs, delta_softplus=True)
    y_fast, g_fast = output_and_grads(selective_scan_fast, inputs, delta_softplus=True)
    torch.testing.assert_close(y_fast, y_ref, **TOL[torch.float64])
    for name in inputs:
        torch.testing.assert_close(g_fast[name], g_ref[name], **TOL[torch.float64], msg=name)


@pytest.mark.parametrize("chunk_bytes", [1, 3 * 2 * 3 * 4 * 8, scan_module._CHUNK_BYTES])
def test_no_grad_scan_matches_ref_across_chunks(monkeypatch, chunk_bytes):
    # Without gradients the states are never kept whole: chunks of 1, 3 and all 7 steps.
    monkeypatch.setattr(scan_module, "_CHUNK_BYTES", chunk_bytes)
    inputs = make_inputs(dtype=torch.float64, seed=2)
    with torch.no_grad():
        y_fast = selective_scan_fast(**inputs, delta_softplus=True)
        y_ref = selective_scan_ref(**inputs, delta_softplus=True)
    torch.testing.assert_close(y_fast, y_ref, **TOL[torch.float64])


@pytest.mark.parametrize("chunk_bytes", [scan_module._CHUNK_BYTES, 2 * 2 * 3 * 4 * 8])
def test_core_function_gradcheck(monkeypatch, chunk_bytes):
    monkeypatch.setattr(scan_module, "_CHUNK_BYTES", chunk_bytes)
    g = torch.Generator().manual_seed(2)
    L, b, d, n = 5, 2, 3, 4

    def rand(*shape, scale=1.0, shift=0.0):
        x = scale * torch.rand(*shape, generator=g, dtype=torch.float64) + shift
        return x.requires_grad_()

    args = (rand(L, b, d, shift=-0.5), rand(L, b, d, scale=0.5, shift=0.1),
            rand(d, n, shift=-1.0), rand(L, b, n, shift=-0.5), rand(L, b, n, shift=-0.5))
    assert torch.autograd.gradcheck(scan_module._SelectiveScanCore.apply, args)


def test_single_step_and_half_precision_input():
    inputs = make_inputs(length=1)
    torch.testing.assert_close(selective_scan_fast(**inputs), selective_scan_ref(**inputs))
    half = {k: v.detach().to(torch.bfloat16) for k, v in make_inputs().items()}
    y_fast, y_ref = selective_scan_fast(**half), selective_scan_ref(**half)
    assert y_fast.dtype == torch.bfloat16
    torch.testing.assert_close(y_fast, y_ref)


def test_dispatcher_uses_fast_scan_on_cpu(monkeypatch):
    # even where mamba_ssm's kernel imports, CPU tensors must not be handed to it
    monkeypatch.setattr(scan_module, "cuda_kernel_available", lambda: True)
    inputs = make_inputs()
    torch.testing.assert_close(
        selective_scan(**inputs, delta_softplus=True),
        selective_scan_fast(**inputs, delta_softplus=True),
        rtol=0, atol=0,
    )


def test_bad_shapes_raise_a_clear_error():
    inputs = make_inputs(with_D=False, with_z=False, with_bias=False)
    inputs["B"] = inputs["B"][:, :, :-1]
    with pytest.raises(ValueError, match="B and C must be"):
        selective_scan_fast(**inputs)
    with pytest.raises(ValueError, match="A must be"):
        selective_scan_ref(**{**make_inputs(), "A": torch.zeros(5, 4)})


def test_matches_mamba_ssm_reference_when_installed():
    try:
        from mamba_ssm.ops.selective_scan_interface import selective_scan_ref as theirs
    except Exception:  # released mamba_ssm fails to import without its CUDA extension
        pytest.skip("mamba_ssm is not importable here")
    inputs = {k: v.detach() for k, v in make_inputs(dtype=torch.float64).items()}
    torch.testing.assert_close(
        selective_scan_fast(**inputs, delta_softplus=True),
        theirs(**inputs, delta_softplus=True),
        **TOL[torch.float64],
    )
