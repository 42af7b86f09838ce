"""Campaign folders: ``init_campaign``, ``submit_frames``, ``campaign_status``.

A campaign folder holds ``campaign.yaml`` (the resolved config, written last by ``init``),
``campaign.db`` (the store, unless ``store_url`` names a server), ``models/iter_NNN/``,
``data/iter_NNN.extxyz`` and ``plots/``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, NamedTuple, Sequence

import numpy as np
from ase import Atoms

from active_learning.campaign.config import CampaignConfig, oracle_fingerprint
from active_learning.campaign.store import CampaignStore, sqlite_url
from mlip.config import dump_config, load_config, read_yaml, validate
from mlip.errors import UserError

CONFIG_NAME = "campaign.yaml"


def store_url(cfg: CampaignConfig, campaign_dir: Path) -> str:
    return cfg.store_url or sqlite_url(Path(campaign_dir) / "campaign.db")


def load_campaign(campaign_dir: str | os.PathLike) -> tuple[CampaignConfig, CampaignStore]:
    """(config, store) of an initialised campaign folder."""
    path = Path(campaign_dir) / CONFIG_NAME
    if not path.is_file():
        raise UserError("not a campaign folder (no campaign.yaml): run `seimlip al init` first", str(campaign_dir))
    cfg = load_config(CampaignConfig, path)
    url = store_url(cfg, Path(campaign_dir))
    return cfg, CampaignStore(url, create=False, where=None if cfg.store_url is None else f"{path}: store_url")


def _read_config(config: dict | str | os.PathLike, overrides: dict[str, Any] | None = None) -> CampaignConfig:
    if isinstance(config, dict):
        data, where, base = dict(config), "campaign config", Path.cwd()
    else:
        path = Path(config)
        if not path.is_file():
            raise UserError("campaign config not found", str(path))
        data, where, base = read_yaml(path), str(path), path.resolve().parent
    data.update(overrides or {})
    return validate(CampaignConfig, data, where).resolve_paths(base)


def _initial_frames(cfg: CampaignConfig) -> list[Atoms]:
    from mlip.data.readers import read_frames
    from mlip.data.validate import validate_frames

    frames: list[Atoms] = []
    for path in cfg.initial_data:
        frames += read_frames(path, keys=cfg.label_keys())
    if not frames:
        raise UserError("no frames in initial_data", "initial_data")
    if cfg.initial_max_frames and len(frames) > cfg.initial_max_frames:
        pick = np.random.default_rng(cfg.seed).choice(len(frames), cfg.initial_max_frames, replace=False)
        frames = [frames[i] for i in sorted(pick)]
    validate_frames(frames, cfg.species)
    return frames


def test_frames(cfg: CampaignConfig) -> list[Atoms]:
    """The fixed held-out set, checked like training data (labels, elements, geometry)."""
    from mlip.data.readers import read_frames
    from mlip.data.validate import validate_frames

    if cfg.test_data is None:
        return []
    frames = read_frames(cfg.test_data, keys=cfg.label_keys())
    if cfg.test_max_frames and len(frames) > cfg.test_max_frames:
        pick = np.random.default_rng(cfg.seed + 1).choice(len(frames), cfg.test_max_frames, replace=False)
        frames = [frames[i] for i in sorted(pick)]
    validate_frames(frames, cfg.species)
    return frames


def check_campaign(cfg: CampaignConfig, where: str) -> list[Atoms]:
    """Everything a campaign will need, checked before ``init`` writes anything: the oracle, the
    store URL (and its driver), the test set, every exploration system (built once with its
    seed), the training configs of the first and later iterations and the initial frames with
    the first training's split of them. Returns the initial frames."""
    from active_learning.campaign.config import make_oracle_spec
    from active_learning.campaign.explore import initial_structure
    from active_learning.campaign.retrain import train_config
    from active_learning.campaign.store import parse_store_url
    from mlip.data.validate import frame_problems

    make_oracle_spec(cfg.oracle)  # a python oracle's target must import
    if cfg.store_url is not None:
        parse_store_url(cfg.store_url, f"{where}: store_url")
    test_frames(cfg)  # fail now, not after the first training
    for system in cfg.exploration.systems:
        try:
            atoms = initial_structure(system, cfg.seed)  # exactly what the exploration will build
        except UserError as exc:
            raise UserError(str(exc), where) from None
        problems = frame_problems(atoms, cfg.species, require_labels=False)
        if problems:
            raise UserError(f"exploration.systems[{system.name}]: its structure cannot be explored: {problems[0]}",
                            where)
    for iteration in (0, 1):  # training.overrides and model keys, as the retraining will use them
        try:
            train_config(cfg, Path("data.extxyz"), iteration, Path("models"))
        except UserError as exc:
            raise UserError(str(exc), where) from None
    frames = _initial_frames(cfg)
    _check_first_split(cfg, frames, where)
    return frames


def _check_first_split(cfg: CampaignConfig, frames: list[Atoms], where: str) -> None:
    """The first training splits the initial frames as below: neither part may come out empty."""
    from active_learning.campaign.retrain import train_config
    from mlip.data.split import stratified_split

    data = train_config(cfg, Path("data.extxyz"), 0, Path("models")).data
    parts = stratified_split(frames, data.split, data.split_seed)
    empty = [name for name, key in (("training", "train"), ("validation", "val")) if not parts[key]]
    if empty:
        raise UserError(f"{len(frames)} initial frames leave the {empty[0]} set of the first training empty at "
                        f"training.val_fraction {cfg.training.val_fraction:g}: give more initial frames "
                        "(initial_max_frames) or change val_fraction", where)


def init_campaign(config: dict | str | os.PathLike, campaign_dir: str | os.PathLike,
                  overrides: dict[str, Any] | None = None) -> Path:
    """Create a campaign folder from a config (mapping or YAML path, ``overrides`` on top); returns
    the folder. Nothing is left behind when it fails."""
    import shutil

    cfg = _read_config(config, overrides)
    where = "campaign config" if isinstance(config, dict) else str(config)
    out = Path(campaign_dir)
    if (out / CONFIG_NAME).exists():
        raise UserError("this folder already holds a campaign: use `seimlip al run`/`resume`", str(out))
    frames = check_campaign(cfg, where)
    existed = out.exists()
    before = set(out.iterdir()) if existed else set()
    try:
        for sub in ("models", "data", "plots"):
            (out / sub).mkdir(parents=True, exist_ok=True)
        store = CampaignStore(store_url(cfg, out), where=None if cfg.store_url is None else f"{where}: store_url")
        try:
            store.add_frames(frames, "initial", "initial", "initial", iteration=0)
            store.set_meta("oracle", oracle_fingerprint(cfg.oracle))
            if not store.iterations():
                store.set_phase(0, "train", {"initial_frames": len(frames)})
        finally:
            store.close()
        dump_config(cfg, out / CONFIG_NAME)  # last: its presence marks a complete init
    except BaseException:  # a store that cannot be reached, an interruption: leave no half campaign
        for path in (set(out.iterdir()) - before) if out.is_dir() else ():
            shutil.rmtree(path) if path.is_dir() else path.unlink()
        if not existed and out.is_dir():
            out.rmdir()
        raise
    return out


def _as_frames(frames: Sequence[Atoms] | str | os.PathLike) -> list[Atoms]:
    from mlip.data.readers import read_frames

    if isinstance(frames, (str, os.PathLike)):
        return read_frames(frames)
    return list(frames)


class Submitted(NamedTuple):
    """What :func:`submit_frames` did: frames queued, duplicates dropped, and each frame refused as
    unphysical (``file#frame: reason``)."""

    added: int
    duplicates: int
    refused: list[str] = []


def submit_frames(campaign_dir: str | os.PathLike, frames: Sequence[Atoms] | str | os.PathLike,
                  source: str) -> Submitted:
    """Queue candidate frames (e.g. from a production MD run) for the next iteration's selection.

    A frame already stored (same content hash) or, once a committee exists, within
    ``selection.duplicate_distance`` of a stored frame's learned descriptor, is dropped as a
    duplicate; one with atoms closer than the data validator allows (0.5 Å) is refused as
    unphysical, with its reason. Malformed input (NaN or inf positions, a zero cell, elements
    outside the campaign's species) and a submission whose every frame is refused are one
    ``UserError`` naming the file and frame, with nothing queued. Safe to call from several
    processes at once.
    """
    from mlip.data.validate import frame_problems

    cfg, store = load_campaign(campaign_dir)
    try:
        frames = _as_frames(frames)
        labels = [str(a.info.get("_source") or f"{source}#{k}") for k, a in enumerate(frames)]
        for a, label in zip(frames, labels):
            problems = frame_problems(a, cfg.species, require_labels=False, check_distances=False)
            if problems:
                raise UserError(f"{problems[0]} (nothing queued)", label)
        refused = {k: problems[0] for k, a in enumerate(frames)
                   if (problems := frame_problems(a, cfg.species, require_labels=False))}
        if refused and len(refused) == len(frames):
            k = next(iter(refused))
            more = f"; so are the {len(refused) - 1} other frame(s)" if len(refused) > 1 else ""
            raise UserError(f"{refused[k]}: refused as unphysical{more} (nothing queued)", labels[k])
        refused_lines = [f"{labels[k]}: {why}" for k, why in refused.items()]
        frames = [a for k, a in enumerate(frames) if k not in refused]
        for a in frames:
            a.info.pop("max_force_dev", None)
        keep, descriptors, model_it = _near_duplicates(campaign_dir, cfg, store, frames)
        kept = [frames[i] for i in keep]
        added, dup = store.add_frames(kept, f"submit:{source}", "submitted", "pending",
                                      descriptors=None if descriptors is None else descriptors[keep],
                                      descriptor_model=model_it)
        return Submitted(added, dup + len(frames) - len(kept), refused_lines)
    finally:
        store.close()


def _near_duplicates(campaign_dir, cfg: CampaignConfig, store: CampaignStore, frames: list[Atoms]):
    """(indices to keep, descriptors or None, model iteration) — near-identical frames dropped."""
    from active_learning.campaign.retrain import member_checkpoint

    models = store.models()
    if not models or not frames:
        return list(range(len(frames))), None, None
    it = models[-1].iteration
    from mlip.model.descriptors import frame_descriptors
    from mlip.model.io import load_potential as load_model

    desc = frame_descriptors(load_model(member_checkpoint(Path(campaign_dir), it)), frames)
    _, stored = store.descriptors(it)
    keep: list[int] = []
    eps = cfg.selection.duplicate_distance
    for i in range(len(frames)):
        ref = [stored] if len(stored) else []
        ref += [desc[keep]] if keep else []
        if ref and np.min(np.linalg.norm(np.concatenate(ref) - desc[i], axis=1)) < eps:
            continue
        keep.append(i)
    return keep, desc, it


def campaign_status(campaign_dir: str | os.PathLike) -> list[dict[str, Any]]:
    """The iteration table: one row per iteration (phase, counts, fractions, test errors)."""
    _, store = load_campaign(campaign_dir)
    try:
        return store.iterations()
    finally:
        store.close()


__all__ = ["Submitted", "campaign_status", "init_campaign", "load_campaign", "submit_frames", "test_frames"]
