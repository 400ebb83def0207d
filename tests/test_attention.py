"""The attention's logit biases: a separable bias folded into q/k must equal the dense one."""

import torch
import torch.nn.functional as F

from hinr.layers.attention import Attention
from hinr.layers.separable_bias import SeparableBias
from hinr.models.locality import LocalityBias


def locality(heads: int = 3, side: int = 8) -> LocalityBias:
    torch.manual_seed(0)
    bias = LocalityBias(heads=heads, side=side)
    with torch.no_grad():
        bias.alpha.copy_(torch.randn(heads))  # distinct strengths per head
    return bias


def test_locality_factors_reproduce_the_dense_bias_up_to_a_per_query_constant():
    bias, coords = locality(), torch.rand(2, 50, 2, dtype=torch.float64)
    sep = bias(coords)
    product = torch.einsum("bhqr,mr->bhqm", sep.query.double(), sep.key[0].double())
    gap = product - bias.dense(coords).double()
    assert gap.shape == (2, 3, 50, 64)
    # the difference is ‖q‖²-shaped: the same for every latent m
    assert torch.allclose(gap, gap[..., :1].expand_as(gap), atol=1e-9)
    assert gap.std() > 1.0  # and not trivially zero: the fold really drops a term


def test_folded_attention_equals_dense_attention_in_fp32_and_fp64():
    bias = locality()
    for dtype, tol in ((torch.float64, 1e-10), (torch.float32, 2e-4)):
        coords = torch.rand(2, 300, 2, dtype=dtype)
        q = torch.randn(2, 3, 300, 16, dtype=dtype)
        k, v = torch.randn(2, 3, 64, 16, dtype=dtype), torch.randn(2, 3, 64, 16, dtype=dtype)
        ref = F.scaled_dot_product_attention(q.double(), k.double(), v.double(),
                                             attn_mask=bias.dense(coords).double())
        out = bias(coords).attend(q, k, v)
        assert out.dtype == dtype and out.shape == (2, 3, 300, 16)
        assert (out.double() - ref).abs().max() < tol, dtype


def test_fold_gives_the_same_gradients_as_the_dense_bias():
    bias, coords = locality(), torch.rand(1, 40, 2, dtype=torch.float64)
    q = torch.randn(1, 3, 40, 8, dtype=torch.float64, requires_grad=True)
    k, v = torch.randn(1, 3, 64, 8, dtype=torch.float64), torch.randn(1, 3, 64, 8, dtype=torch.float64)
    grads = []
    for folded in (True, False):
        bias.zero_grad()
        q.grad = None
        sep = bias(coords)
        out = sep.attend(q, k, v) if folded else F.scaled_dot_product_attention(q, k, v, attn_mask=bias.dense(coords))
        (out * torch.linspace(-1, 1, out.numel(), dtype=out.dtype).view_as(out)).sum().backward()
        grads.append((q.grad.clone(), bias.alpha.grad.clone()))
    assert torch.allclose(grads[0][0], grads[1][0], atol=1e-10)
    assert torch.allclose(grads[0][1], grads[1][1], atol=1e-10)
    assert grads[0][1].abs().min() > 0  # α learns through the fold


def test_bf16_attention_with_a_separable_bias_runs_in_fp32():
    """Folded in bf16 the large, cancelling factors would lose the differences that matter."""
    bias, coords = locality(side=16), torch.rand(1, 200, 2)
    q, k, v = (torch.randn(1, 3, n, 16).bfloat16() for n in (200, 256, 256))
    sep = bias(coords)
    low = sep.attend(q, k, v)
    assert low.dtype == torch.bfloat16
    assert torch.equal(low, sep.attend(q.float(), k.float(), v.float()).bfloat16())
    exact = F.scaled_dot_product_attention(q.double(), k.double(), v.double(),
                                           attn_mask=bias.dense(coords.double()))
    folded_in_bf16 = F.scaled_dot_product_attention(
        torch.cat([q, (sep.query / 0.25).bfloat16()], -1), torch.cat([k, sep.key.bfloat16().expand(1, 3, -1, -1)], -1),
        torch.nn.functional.pad(v, (0, 3)), scale=0.25)[..., :16]
    error, naive_error = ((x.double() - exact).abs().max() for x in (low, folded_in_bf16))
    assert error < 0.01  # bf16 rounding of the output only
    assert naive_error > 4 * error  # what folding in fp32 avoids


def test_attention_module_accepts_dense_and_separable_biases():
    torch.manual_seed(0)
    attn = Attention(query_dim=32, context_dim=24, heads=3, dim_head=8)
    bias, coords = locality(), torch.rand(2, 10, 2)
    x, context = torch.randn(2, 10, 32), torch.randn(2, 64, 24)
    folded = attn(x, context, bias=bias(coords))
    dense = attn(x, context, bias=bias.dense(coords))
    plain = attn(x, context)
    assert torch.allclose(folded, dense, atol=1e-5)
    assert not torch.allclose(folded, plain, atol=1e-3)


def test_separable_bias_with_per_head_keys():
    q, k, v = (torch.randn(1, 2, n, 4, dtype=torch.float64) for n in (5, 7, 7))
    query, key = torch.randn(1, 2, 5, 2, dtype=torch.float64), torch.randn(2, 7, 2, dtype=torch.float64)
    dense = torch.einsum("bhqr,hmr->bhqm", query, key)
    sep = SeparableBias(query=query, key=key)
    ref = F.scaled_dot_product_attention(q, k, v, attn_mask=dense)
    assert torch.allclose(sep.attend(q, k, v), ref, atol=1e-12)
