"""hybrid-v3: its own options, whole inputs of any size, a picture continuous across latent
cells, one path from the input to RGB, and the retrain-ablations as settings."""

from __future__ import annotations

import pytest
import torch

import hinr
from hinr.config import ModelConfig, preset
from hinr.models.hybrid_v3 import LocalAttentionDecoder, _decoder_macs, lattice_frequencies


def trained_looking(**overrides) -> hinr.HINR:
    """A tiny v3 whose RGB layer is not zero (untrained, it renders plain bicubic)."""
    torch.manual_seed(0)
    model = hinr.HINR(preset("tiny", arch="hybrid-v3", **overrides)).eval()
    with torch.no_grad():
        torch.nn.init.normal_(model.decoder.to_rgb.weight, std=0.2)
        if hasattr(model.decoder, "distance_slope"):  # far cells weigh in (at 0 they are damped)
            model.decoder.distance_slope.fill_(-10.0)
        if getattr(model.decoder, "content_query", False):  # its content queries start at zero
            weight = model.decoder.to_kv.weight  # (each cell's k, v, content query) × cells per latent
            rows = weight.view(-1, 3, model.decoder.inner, weight.shape[1])[:, 2]
            rows.copy_(torch.randn_like(rows) * 0.1 * weight.shape[1] ** -0.5)
    return model


def test_its_own_fields_live_in_options_and_survive_a_round_trip(tmp_path):
    config = preset("small", arch="hybrid-v3", window=4, lp_tokens=False)
    assert config.options["window"] == 4 and config.options["lp_tokens"] is False
    assert config.arch_options.stem_blocks == 4
    assert ModelConfig.from_json(config.to_json()) == config
    model = hinr.HINR(config)
    loaded = hinr.load_model(hinr.save_model(model, tmp_path / "v3"))
    assert loaded.config.options == config.options
    for (name, a), (_, b) in zip(model.state_dict().items(), loaded.state_dict().items()):
        torch.testing.assert_close(a, b, msg=name)


def test_bad_options_are_refused():
    with pytest.raises(ValueError, match="unknown hybrid-v3 options"):
        ModelConfig(arch="hybrid-v3", num_latents=256, options={"windw": 4})
    with pytest.raises(ValueError, match="no options of its own"):
        ModelConfig(arch="liif", readout="local", num_latents=1024, patch_size=1, options={"window": 4})
    with pytest.raises(ValueError, match="cell_offsets needs"):  # modulate's waves are periodic
        preset("tiny", arch="hybrid-v3", value_position=4, cell_offsets=True, modulate=True)
    with pytest.raises(ValueError, match="encoder_depth"):
        hinr.HINR(preset("tiny", arch="hybrid-v3", encoder_depth=0))  # LP tokens need a scan
    with pytest.raises(ValueError, match="content_query blends the 2 × 2 cells"):
        preset("tiny", arch="hybrid-v3", content_query=True, neighbourhood=4)
    with pytest.raises(ValueError, match="it needs value_position"):
        preset("tiny", arch="hybrid-v3", value_layers=2)
    with pytest.raises(ValueError, match="value_layers must be ≥ 1"):
        preset("tiny", arch="hybrid-v3", value_position=4, value_layers=0)


@pytest.mark.parametrize("size", [(32, 32), (37, 51), (48, 20)])
@pytest.mark.parametrize("patch", [2, 1])
def test_encodes_any_size_whole(size, patch):
    model = trained_looking(patch_size=patch)
    h, w = size
    latents = model.encode(torch.rand(1, 3, h, w))
    assert latents.tokens.shape == (1, -(-h // patch) * -(-w // patch), model.config.dim)
    out = model.render(latents, 2 * h, 2 * w)
    assert out.shape == (1, 3, 2 * h, 2 * w) and torch.isfinite(out).all()


@pytest.mark.parametrize("options", [dict(), dict(modulate=True), dict(modulate=True, pixel_kv=True),
                                     dict(modulate=True, pixel_kv=True, neighbourhood=4),
                                     dict(modulate=True, pixel_kv=True, pixel_head=1, pixel_dim=8),
                                     dict(modulate=True, pixel_kv=True, value_position=8),
                                     dict(modulate=True, patch_size=1),
                                     dict(modulate=True, patch_size=1, scan_patch=2),
                                     dict(patch_size=1, value_position=4, cell_offsets=True),
                                     dict(patch_size=1, value_position=4, cell_offsets=True, content_query=True),
                                     dict(modulate=True, pixel_kv=True, content_query=True),
                                     dict(patch_size=1, value_position=4, cell_offsets=True, value_layers=2)],
                         ids=["plain", "modulate", "pixel_kv", "k4", "pixel_head", "value_position",
                              "patch_1", "scan_patch", "cell_offsets", "content_query", "content_query_px",
                              "value_layers"])
def test_the_picture_is_continuous_across_latent_cells(options):
    """Just before and just after each latent-cell border (and corner), the picture is the same:
    cells fade out where they are swapped, and the query's features (where it has any: not with
    cell_offsets) are periodic in the cell."""
    pixel_kv = options.get("pixel_kv", False) or options.get("patch_size") == 1  # cells of 1 px
    # low offset frequencies and strong values: the picture varies slowly, so a jump stands out
    model = trained_looking(**options, fourier_scale=0.3)
    with torch.no_grad():
        # (×2: much more, and random logits far apart make a cell's fade steeper than this test resolves)
        model.decoder.to_kv.weight.mul_(2.0)
    latents = model.encode(torch.rand(1, 3, 32, 37))
    stride = 1 if pixel_kv else 2  # input px between key/value centres (the corners' switch points)
    borders_x = (torch.arange(2, 34 // stride) + 0.5) * stride / 37
    borders_y = (torch.arange(2, 30 // stride) + 0.5) * stride / 32
    xs, ys = torch.meshgrid(borders_x, borders_y, indexing="ij")
    points = torch.stack([xs, ys], -1).reshape(-1, 2)

    def step(d: tuple[float, float]) -> torch.Tensor:
        """max |f(p + d) − f(p − d)| over the border points p."""
        d = torch.tensor(d)
        with torch.no_grad():
            a, b = (model.decode(latents, c, torch.tensor([1 / 256, 1 / 256])) for c in (points - d, points + d))
        return (a - b).abs().max()

    # continuous: the step shrinks with the distance (a jump would stay)
    for d in [(1e-5, 0.0), (0.0, 1e-5), (1e-5, 1e-5)]:
        assert step(tuple(v / 10 for v in d)) < 0.3 * step(d)


@pytest.mark.parametrize("cell_offsets", [True, False])
def test_with_cell_offsets_position_reaches_rgb_only_through_the_cells(cell_offsets):
    """Over identical cells, with each cell's offset terms zeroed, a cell_offsets decoder draws one
    colour everywhere (the query holds no phase of its own: nothing repeats at the cell pitch),
    where the periodic query draws a pattern."""
    model = trained_looking(patch_size=1, value_position=4, cell_offsets=cell_offsets)
    decoder = model.decoder
    with torch.no_grad():
        decoder.to_value_position.weight.zero_()
        decoder.to_value_position.bias.zero_()
        kv = torch.randn(1, decoder.to_kv.out_features).expand(12 * 10, -1)  # 12 × 10 identical cells
        coords = torch.rand(1, 256, 2)
        out = decoder(coords, torch.full((1, 256, 2), 1 / 40), (kv.contiguous(), (10, 12, 10, 12)))
    spread = (out - out[:, :1]).abs().max()
    assert (spread < 1e-5) if cell_offsets else (spread > 1e-3)


def test_a_query_does_not_depend_on_its_neighbours_pixel_sizes():
    """cell_offsets computes one query for a render of one pixel size: the same pixels, decoded
    beside a query of another size (a query each), come out the same."""
    model = trained_looking(patch_size=1, value_position=4, cell_offsets=True)
    latents = model.encode(torch.rand(1, 3, 20, 24))
    coords, cell = torch.rand(1, 65, 2), torch.full((1, 65, 2), 1 / 64)
    mixed = cell.clone()
    mixed[0, -1] = 1 / 16
    with torch.no_grad():  # the decoder alone (the bicubic base takes one filter for all sizes)
        context = model.decoder.prepare(latents)
        shared = model.decoder(coords[:, :-1], cell[:, :-1], context)
        alone = model.decoder(coords, mixed, context)[:, :-1]
    torch.testing.assert_close(shared, alone)


def reference_cell_offsets_decode(decoder, kv, rows, cols, coord, size):
    """One query of a cell_offsets decoder, term by term as its docstring says: each of the 2 × 2
    cells' key plus the features of the offset to it, its value through a GELU with them, softmax
    × area over the cells, then the feed-forward and the skip. With content_query the query adds
    the cells' content queries, blended by their areas; the offset terms meet the size query only."""
    inner, heads = decoder.inner, decoder.heads
    p = coord * torch.tensor([cols, rows]) - 0.5
    low = torch.floor(p)
    x0 = decoder.query_in(size * torch.tensor([cols, rows]))
    q = decoder.to_q(decoder.query_norm(x0)).view(heads, -1)
    cells = []
    for step in ([0, 0], [1, 0], [0, 1], [1, 1]):
        at = low + torch.tensor(step, dtype=low.dtype)
        col, row = (int(v) for v in torch.minimum(at.clamp_min(0), torch.tensor([cols - 1, rows - 1])))
        cells.append((kv[row * cols + col], at - p))
    areas = [(1 - offset.abs()).prod() for _, offset in cells]
    local = sum(a * row[2 * inner:] for a, (row, _) in zip(areas, cells)) if decoder.content_query else 0
    logits, values = [], []
    for row, offset in cells:
        turn = 2 * torch.pi * (offset @ decoder.position_frequencies)
        position = decoder.to_value_position(torch.cat([turn.sin(), turn.cos()]))
        k, v = row[:inner], row[inner:2 * inner]
        content = ((q.reshape(-1) + local) * k).view(heads, -1).sum(-1)
        damping = torch.nn.functional.softplus(decoder.distance_slope) * offset.pow(2).sum()
        logits.append((content + (q * position[:inner].view(heads, -1)).sum(-1)) / decoder.dim_head ** 0.5
                      - damping)
        value = torch.nn.functional.gelu(v + position[inner:])
        for layer in decoder.value_layers:  # value_layers > 1: each a GELU(linear) per cell
            value = torch.nn.functional.gelu(layer(value))
        values.append(value.view(heads, -1))
    weight = torch.softmax(torch.stack(logits), dim=0) * torch.stack(areas)[:, None]
    weight = weight / weight.sum(0)
    attended = (weight[..., None] * torch.stack(values)).sum(0).reshape(inner)
    x = x0 + decoder.to_out(attended)
    x = x + decoder.ff(decoder.ff_norm(x))
    return decoder.to_rgb(decoder.out_norm(x + x0))


@pytest.mark.parametrize("one_size, queries, content_query, value_layers",
                         [(True, 40, False, 1), (True, 2, False, 1), (False, 40, False, 1),
                          (True, 40, True, 1), (False, 40, True, 1), (True, 40, False, 3), (False, 40, False, 2)])
def test_cell_offsets_decodes_as_its_docstring_says_term_by_term(one_size, queries, content_query, value_layers):
    """The decoder's batched forward equals the per-cell maths, for a render of one pixel size (it
    folds the keys' position term into the query, and with more cells read than table rows in
    reach computes q · k once per row) and for mixed sizes (a query each), with and without the
    content query, and with each cell's value through further layers."""
    model = trained_looking(patch_size=1, value_position=3, cell_offsets=True, content_query=content_query,
                            value_layers=value_layers)
    decoder = model.decoder
    rows, cols = 5, 7
    kv = torch.randn(rows * cols, decoder.to_kv.out_features)
    coords = torch.rand(1, queries, 2)
    cell = torch.full((1, queries, 2), 1 / 20) if one_size else torch.rand(1, queries, 2) / 10
    with torch.no_grad():
        out = decoder(coords, cell, (kv, (rows, cols, rows, cols)))
        expected = torch.stack([reference_cell_offsets_decode(decoder, kv, rows, cols, coords[0, i], cell[0, i])
                                for i in range(queries)])
    torch.testing.assert_close(out[0], expected, rtol=1e-4, atol=1e-5)


def test_content_query_starts_as_the_decoder_without_it():
    """Its content queries' weights start at zero: a fresh model with content_query renders what
    the same weights render without it (and their gradient is not zero, so they move)."""
    torch.manual_seed(0)
    options = dict(patch_size=1, value_position=4, cell_offsets=True)
    model = hinr.HINR(preset("tiny", arch="hybrid-v3", **options, content_query=True)).eval()
    plain = hinr.HINR(preset("tiny", arch="hybrid-v3", **options)).eval()
    state = model.state_dict()
    inner = model.decoder.inner
    state["decoder.to_kv.weight"] = state["decoder.to_kv.weight"][:2 * inner]
    plain.load_state_dict(state)
    for m in (model, plain):
        torch.nn.init.normal_(m.decoder.to_rgb.weight, std=0.2, generator=torch.Generator().manual_seed(1))
    images, coords = torch.rand(1, 3, 16, 20), torch.rand(1, 50, 2)
    out = model(images, coords)
    torch.testing.assert_close(out, plain(images, coords))
    out.square().sum().backward()
    assert model.decoder.to_kv.weight.grad[2 * inner:].abs().sum() > 0


def test_every_part_is_on_the_path_to_rgb():
    """Perturbing the stem, the scan, the LP token or the processor changes the picture: there
    is no way around any of them (and gradients reach every weight)."""
    model = trained_looking()
    images, coords = torch.rand(2, 3, 32, 32), torch.rand(2, 64, 2)
    model(images, coords).sum().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.parameters())
    before = model(images, coords).detach()
    for part in (model.encoder.stem, model.encoder.blocks, model.encoder.processor.blocks):
        with torch.no_grad():
            weights = [p for p in part.parameters() if p.ndim > 1]
            saved = [p.clone() for p in weights]
            for p in weights:
                p.add_(torch.randn_like(p) * 0.1)
            assert not torch.allclose(model(images, coords), before, atol=1e-4)
            for p, s in zip(weights, saved):
                p.copy_(s)


@pytest.mark.parametrize("size", [(32, 32), (37, 51)])
def test_a_scan_over_2x2_patches_gives_a_latent_per_pixel_with_the_scan_on_its_path(size):
    """scan_patch=2: the latents are one per pixel (the stem's features plus the scan's context,
    unpacked), the processor runs over them, and the scan still changes the picture."""
    model = trained_looking(patch_size=1, scan_patch=2, lp_sum=True)
    h, w = size
    images, coords = torch.rand(1, 3, h, w), torch.rand(1, 64, 2)
    latents = model.encode(images)
    assert latents.tokens.shape == (1, h * w, model.config.dim)
    assert model.encoder.to_tokens.in_features == 4 * model.config.dim
    model.decode(latents, coords).sum().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.parameters())
    with torch.no_grad():
        before = model.decode(model.encode(images), coords)
        for p in model.encoder.blocks.parameters():
            if p.ndim > 1:
                p.add_(torch.randn_like(p) * 0.1)
        assert not torch.allclose(model.decode(model.encode(images), coords), before, atol=1e-4)
    with pytest.raises(ValueError, match="patch_size 1"):
        preset("tiny", arch="hybrid-v3", scan_patch=2)


@pytest.mark.parametrize("ablation", [dict(modulate=True, pixel_kv=True),
                                      dict(pixel_kv=True, neighbourhood=4, stem_dim=16),
                                      dict(pixel_kv=True, pixel_head=2, pixel_dim=8),
                                      dict(pixel_kv=True, value_position=4),
                                      dict(pixel_kv=True, lp_sum=True),
                                      dict(processor_depth=0),
                                      dict(encoder_depth=0, lp_tokens=False),
                                      dict(lp_tokens=False), dict(readout="local", decoder_depth=2)])
def test_the_retrain_ablations_build_and_train(ablation):
    model = hinr.HINR(preset("tiny", arch="hybrid-v3", **ablation))
    images, coords = torch.rand(2, 3, 32, 32), torch.rand(2, 64, 2)
    model(images, coords).sum().backward()
    if "readout" in ablation:
        assert type(model.decoder).__name__ == "LocalDecoder"
    else:
        assert isinstance(model.decoder, LocalAttentionDecoder)
    if ablation.get("processor_depth") == 0:
        assert len(model.encoder.processor.blocks) == 0


def test_the_cpu_size_decodes_under_20k_multiply_adds_per_pixel():
    assert _decoder_macs(preset("small", arch="hybrid-v3")) <= 20_000


def test_offset_frequencies_are_nonzero_integers():
    b = lattice_frequencies(32, 2.0)
    assert b.shape == (2, 32) and torch.equal(b, b.round()) and (b.abs().sum(0) > 0).all()


def test_hinr_train_trains_it_from_the_command_line(tmp_path, capsys, monkeypatch):
    """Its own defaults, no recipe flags to turn off (the hinr attention decoders' recipe does not
    apply to it), and the run folder upscales."""
    from cli_helpers import photo, run

    for i in range(2):
        photo(tmp_path / f"p{i}.png", 64, 64, seed=i)
    code, out, err = run(capsys, monkeypatch, "train", "--data", tmp_path, "--arch", "hybrid-v3",
                         "--hr-size", "64", "--steps", "2", "--batch-size", "2", "--queries", "32",
                         "--out", tmp_path / "run")
    assert code == 0, err
    assert hinr.load_model(tmp_path / "run").config.arch == "hybrid-v3"
    code, _, err = run(capsys, monkeypatch, "upscale", tmp_path / "p0.png", "--scale", "2", "-o",
                       tmp_path / "o.png", "-w", tmp_path / "run")
    assert code == 0, err
