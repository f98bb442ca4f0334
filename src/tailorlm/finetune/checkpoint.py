"""Resumable checkpoints that are never half-written.

A checkpoint is built in `checkpoints/ckpt-<step>.tmp/` and renamed to `ckpt-<step>/` only after
a manifest listing every file's size and sha256 has been written and synced; resume takes the
newest folder whose manifest checks out, so a kill at any moment leaves either a complete
checkpoint or one that is ignored. Model, optimizer, scheduler and per-process RNG states go
through `accelerate`'s save_state/load_state (which also knows FSDP and DeepSpeed); only the
trainable weights are written, so a LoRA checkpoint is megabytes, not the whole base model."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
from pathlib import Path
from typing import Any

from tailorlm.errors import TailorError

CHECKPOINTS = "checkpoints"
MANIFEST = "MANIFEST.json"
TRAINER_STATE = "trainer_state.json"
METRICS = "metrics.json"  # the step, mean train loss since the previous checkpoint, best dev loss
_NAME = re.compile(r"^ckpt-(\d+)$")


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 22), b""):
            digest.update(block)
    return digest.hexdigest()


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_json_synced(path: Path, obj: Any) -> None:
    with open(path, "w", encoding="utf-8") as f:
        json.dump(obj, f, indent=2, sort_keys=True, default=str)
        f.flush()
        os.fsync(f.fileno())


def _file_table(folder: Path) -> dict[str, dict[str, Any]]:
    files = sorted(p for p in folder.rglob("*") if p.is_file() and p.name != MANIFEST)
    return {
        str(p.relative_to(folder)): {"size": p.stat().st_size, "sha256": _sha256(p)} for p in files
    }


def seal(folder: Path) -> None:
    """Sync every file, then write the manifest last: its presence means the rest is there."""
    for path in folder.rglob("*"):
        if path.is_file():
            with open(path, "rb") as f:
                os.fsync(f.fileno())
    write_json_synced(folder / MANIFEST, {"files": _file_table(folder)})


def is_complete(folder: Path) -> bool:
    try:
        manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
        return manifest["files"] == _file_table(folder)
    except (OSError, ValueError, KeyError):
        return False


def publish(tmp: Path, final: Path) -> None:
    """Seal `tmp` and rename it to `final` (replacing an older `final`)."""
    seal(tmp)
    if final.exists():
        shutil.rmtree(final)
    os.replace(tmp, final)
    _fsync_dir(final.parent)


def checkpoint_steps(run_dir: Path) -> list[tuple[int, Path]]:
    root = run_dir / CHECKPOINTS
    found = [(int(m.group(1)), p) for p in root.glob("ckpt-*") if (m := _NAME.match(p.name))]
    return sorted(found, reverse=True)


def latest_complete(run_dir: Path) -> Path | None:
    """The newest checkpoint whose every file matches its manifest."""
    return next((path for _, path in checkpoint_steps(run_dir) if is_complete(path)), None)


def save_checkpoint(
    accelerator: Any,
    run_dir: Path,
    step: int,
    state: dict[str, Any],
    config: dict[str, Any],
    metrics: dict[str, Any],
) -> Path:
    """Every process calls this (each saves its own RNG state); the main one publishes."""
    final = run_dir / CHECKPOINTS / f"ckpt-{step:07d}"
    tmp = final.with_name(final.name + ".tmp")
    if accelerator.is_main_process and tmp.exists():
        shutil.rmtree(tmp)
    accelerator.wait_for_everyone()
    accelerator.save_state(str(tmp / "state"))
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        write_json_synced(tmp / TRAINER_STATE, state)
        write_json_synced(tmp / "config.json", config)
        write_json_synced(tmp / METRICS, metrics)
        publish(tmp, final)
    accelerator.wait_for_everyone()
    return final


def load_checkpoint(accelerator: Any, folder: Path) -> dict[str, Any]:
    accelerator.load_state(str(folder / "state"))
    return json.loads((folder / TRAINER_STATE).read_text(encoding="utf-8"))


def prune(run_dir: Path, keep: int) -> None:
    """Drop checkpoints beyond the newest `keep` sealed ones, and abandoned `.tmp` folders.
    (A folder only gets its final name once sealed, so the manifest's presence suffices here;
    resume still verifies every hash.)"""
    steps = checkpoint_steps(run_dir)
    kept = [path for _, path in steps if (path / MANIFEST).is_file()][:keep]
    stale = [path for _, path in steps if path not in kept]
    for path in stale + list((run_dir / CHECKPOINTS).glob("ckpt-*.tmp")):
        shutil.rmtree(path, ignore_errors=True)


def trainable_only_hooks(accelerator: Any) -> None:
    """Checkpoint only parameters that train: the frozen base model is on disk already."""
    from safetensors.torch import load_file

    def save_hook(models: list[Any], weights: list[dict[str, Any]], _out: str) -> None:
        for i, (model, state) in enumerate(zip(models, weights)):
            keep = {n for n, p in model.named_parameters() if p.requires_grad}
            weights[i] = {k: v for k, v in state.items() if k in keep}

    def load_hook(models: list[Any], in_dir: str) -> None:
        for i, model in enumerate(models):
            name = "model.safetensors" if i == 0 else f"model_{i}.safetensors"
            result = model.load_state_dict(load_file(Path(in_dir) / name), strict=False)
            trainable = {n for n, p in model.named_parameters() if p.requires_grad}
            if result.unexpected_keys or trainable & set(result.missing_keys):
                raise TailorError(
                    f"Checkpoint {in_dir} does not match the model being trained.",
                    hint="resume with the same model and method, or start a new run",
                )
        models.clear()  # loaded here; accelerate must not load them again strictly

    accelerator.register_save_state_pre_hook(save_hook)
    accelerator.register_load_state_pre_hook(load_hook)


def check_disk(folder: Path, need_bytes: int) -> None:
    free = shutil.disk_usage(folder).free
    if free < need_bytes:
        raise TailorError(
            f"Not enough disk space in {folder}: checkpoints need about "
            f"{need_bytes / 1e9:.1f} GB, {free / 1e9:.1f} GB free.",
            hint="free some space, point TAILOR_HOME at a larger disk, or lower --keep-checkpoints",
        )
