"""LIIF, the arbitrary-scale anchor: an EDSR-baseline encoder (one 64-wide feature per input
pixel) → LIIF's local MLP read-out (the 4 nearest features, each with its 3×3 neighbours, the
query's offset and the output pixel's size, blended by area). ``dim`` is the conv width,
``encoder_depth`` the residual blocks, ``decoder_dim`` / ``decoder_depth`` the MLP's hidden
width and layers; ``base`` is the paper's (16 blocks, 4 hidden layers of 256). Its registry row;
the modules are ``edsr_encoder`` and ``local_decoder``. No fields of its own.
"""

from __future__ import annotations

from torch import nn

from ..config import INPUT_SIZE, Architecture, ModelConfig, register_architecture
from .edsr_encoder import EdsrEncoder
from .parts import Parts, local_decoder


def edsr_encoder(c: ModelConfig) -> nn.Module:
    return EdsrEncoder(dim=c.dim, depth=c.encoder_depth)


def _parts(c: ModelConfig) -> Parts:
    return Parts(edsr_encoder, False, local_decoder, reads_locally=True)


def _checks(c: ModelConfig) -> None:
    if c.readout != "local":
        raise ValueError("the liif architecture reads out locally: set readout='local'")
    if c.num_latents != c.image_size**2:
        raise ValueError("liif has one latent per input pixel: num_latents must be image_size²")


register_architecture(Architecture(
    "liif", "LIIF: EDSR-baseline encoder → LIIF's local MLP read-out (the arbitrary-scale anchor)",
    _parts,
    sizes={"base": dict(dim=64, encoder_depth=16, decoder_dim=256, decoder_depth=4),
           "small": dict(dim=64, encoder_depth=8, decoder_dim=256, decoder_depth=3),
           "tiny": dict(dim=32, encoder_depth=4, decoder_dim=128, decoder_depth=2)},
    fixed=dict(readout="local", unfold=True, cell_input=True, patch_size=1, processor_depth=0),
    validate=_checks, train_recipe=False,
    derive=lambda f: {**f, "num_latents": f.get("image_size", INPUT_SIZE) ** 2},  # one per pixel
    # the encoder's 3×3 convolutions, the read-out's 3×3 unfolding and corner latents, and the
    # bicubic base's taps
    receptive_radius=lambda c: 2 * c.encoder_depth + 2 + 2 + 2,
    describe=lambda c: (f"EDSR ×{c.encoder_depth}", f"local MLP {c.decoder_dim} × {c.decoder_depth}")))
