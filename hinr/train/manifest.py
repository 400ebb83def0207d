"""The checkpoint manifest: ``checkpoint.json`` names the step and the sha256 of
``model.safetensors`` and ``trainer_state.safetensors``, and is published last.

A checkpoint is written part by part (weights, then trainer state, each atomically), then the
manifest; a run killed between two parts leaves files at different steps, and resuming repairs
that from the manifest:

- trainer state matches the manifest, weights do not (killed after the weights): the weights are
  rewritten from the state;
- trainer state newer than the manifest (killed before the manifest): the state is complete, so it
  is taken and the manifest republished;
- a state older than, or otherwise unlike, the manifest was put there by hand: refused.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from ..atomic import atomic_write
from ..errors import HinrError

MANIFEST_NAME = "checkpoint.json"


class CheckpointMismatchError(HinrError):
    """The run folder's checkpoint files contradict its manifest in a way resume cannot repair."""


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def publish_manifest(run_dir: Path, *, step: int, files: list[str]) -> None:
    """Write checkpoint.json for ``files`` (names inside ``run_dir``) at ``step``: call it last."""
    body = {"step": step, "files": {name: file_sha256(run_dir / name) for name in files}}
    text = json.dumps(body, indent=1, sort_keys=True) + "\n"
    atomic_write(run_dir / MANIFEST_NAME, lambda tmp: Path(tmp).write_text(text), overwrite=True,
                 what="checkpoint manifest")


@dataclass
class ResumePlan:
    step: int  # the step training resumes from (the trainer state's)
    repair: bool  # rewrite the weights and the manifest from the trainer state before training
    reason: str = ""  # why, for the log


def plan_resume(run_dir: Path, *, state_name: str, state_step: int, weights_name: str) -> ResumePlan:
    """Decide from the manifest whether the checkpoint files agree (see the module docstring)."""
    path = run_dir / MANIFEST_NAME
    if not path.is_file():  # a run from before manifests: trust the state, publish one
        return ResumePlan(step=state_step, repair=True, reason=f"it has no {MANIFEST_NAME} yet")
    try:
        manifest = json.loads(path.read_text())
        step, files = int(manifest["step"]), dict(manifest["files"])
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise CheckpointMismatchError(f"{path} is damaged ({err}): delete it to resume from "
                                      f"{state_name} as it is") from err
    if files.get(state_name) != file_sha256(run_dir / state_name):
        if state_step > step:
            return ResumePlan(step=state_step, repair=True,
                              reason=f"the run stopped before publishing step {state_step}")
        raise CheckpointMismatchError(f"{run_dir / state_name} (step {state_step}) is not the one "
                                      f"{path} names (step {step}): restore it, or delete "
                                      f"{MANIFEST_NAME} to resume from it anyway")
    weights = run_dir / weights_name
    repair = not weights.is_file() or files.get(weights_name) != file_sha256(weights)
    return ResumePlan(step=state_step, repair=repair,
                      reason=f"its {weights_name} is not the step-{step} one (a run stopped mid-save)")
