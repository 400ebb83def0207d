"""``hinr train``'s options, derived rather than written out: every ``TrainConfig`` field declared
with ``hinr.train.config.option`` (its help beside its default), the model fields a run may set
(``MODEL_FLAGS``, their types ModelConfig's) and where the run goes (``RUN_OPTIONS``). From them
come the command's signature (``train_signature``, what Typer reads) and ``TrainOptions``, the
options as given (None: not given). A new training option is one field and its use.
"""

from __future__ import annotations

import dataclasses
import inspect
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import typer

from ..config import ModelConfig
from ..train.config import TrainConfig

# ModelConfig fields `hinr train` sets on a new run: name → (help, listed in --help, default shown)
MODEL_FLAGS: dict[str, tuple[str, bool, str]] = {
    "residual": ("Decoder predicts a correction over PIL bicubic.", False, "on; off with --preset base"),
    "base_skip": ("Add PIL bicubic to the decoder's output through a learned per-channel weight "
                  "(LTE's skip; exclusive with --residual).", False, "off"),
    "locality": ("2D locality bias in cross-attention + query offset.", False,
                 "on; off with --preset base"),
    "cell_input": ("Decoder sees the output pixel size (LIIF cell).", False, "on; off with --preset base"),
    "local_pixels": ("Decoder sees the k×k input pixels around the query (0 = off; even, up to 12).",
                     False, "8; 0 with --preset base"),
    "lp_placement": ("append | interleave (LP tokens among the patches, as MAMBA-GINR).", False,
                     "interleave; append with --preset base"),
    "readout": ("attention (global cross-attention, the design) | local (LIIF's local ensemble on "
                "the latent grid: cost per pixel independent of the latents).", False, "attention"),
    "decoder_dim": ("Decoder width (the local read-out's hidden layers).", False, "the preset's"),
    "decoder_depth": ("Decoder depth (the local read-out's hidden layers).", False, "the preset's"),
}
# where the run goes, not how it trains: name → (help, listed in --help)
RUN_OPTIONS: dict[str, tuple[str, bool]] = {
    "out": ("Run folder, new or empty (default runs/…).", True),
    "resume": ("Continue this run folder (SIGTERM checkpoints first).", True),
}


@dataclass(frozen=True)
class Flag:
    name: str
    type: type
    help: str
    shown: bool
    show_default: str | bool


def _plain(hint) -> type:
    """``X | None`` → X."""
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    return args[0] if args else hint


def _shown(default) -> str | bool:
    if isinstance(default, bool):
        return "on" if default else "off"
    return False if default is None else str(default)


def flags() -> list[Flag]:
    """Every option of ``hinr train``, in the order ``--help`` lists them."""
    out = []
    hints = typing.get_type_hints(TrainConfig)
    for f in dataclasses.fields(TrainConfig):
        if "help" in f.metadata:
            shown = f.metadata["show_default"] or _shown(f.default)
            out.append(Flag(f.name, _plain(hints[f.name]), f.metadata["help"], f.metadata["shown"],
                            shown or False))
    model = typing.get_type_hints(ModelConfig)
    out += [Flag(name, _plain(model[name]), help, shown, default)
            for name, (help, shown, default) in MODEL_FLAGS.items()]
    out += [Flag(name, Path, help, shown, False) for name, (help, shown) in RUN_OPTIONS.items()]
    return out


def _given(self, *names: str) -> list[str]:
    return [n for n in names if getattr(self, n) is not None]


# the options as given: every field None unless the user gave it
TrainOptions = dataclasses.make_dataclass(
    "TrainOptions", [(f.name, Optional[f.type], None) for f in flags()],
    namespace={"given": _given, "__doc__": "The options of ``hinr train`` as given: None means "
               "\"not given\"."})
TrainOptions.__module__ = __name__


def train_signature() -> inspect.Signature:
    """The parameters Typer makes ``hinr train``'s options of (each None when not given)."""
    parameters = []
    for f in flags():
        dashed = "--" + f.name.replace("_", "-")
        names = (f"{dashed}/--no-{dashed[2:]}",) if f.type is bool else (dashed,)
        option = typer.Option(None, *names, help=f.help, hidden=not f.shown,
                              show_default=f.show_default)
        parameters.append(inspect.Parameter(f.name, inspect.Parameter.KEYWORD_ONLY, default=option,
                                            annotation=Optional[f.type]))
    return inspect.Signature(parameters, return_annotation=None)
