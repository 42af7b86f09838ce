"""Sampling plans (`seimlip data build`): seeded, validated, resumable."""

import numpy as np
import pytest

from active_learning.cli import main
from active_learning.reference_data.build import BuildConfig, build_frames
from mlip.data.readers import read_frames

PLAN = {
    "seed": 7,
    "systems": [
        {"name": "li_bulk", "build": {"builder": "li_bulk", "repeat": [2, 2, 2]}, "count": 3, "rattle": 0.05, "strain": 0.02},
        {"name": "decomposed", "build": {"builder": "li_slab", "face": "100", "size": [2, 2], "layers": 3},
         "count": 3, "fragments": ["F", "CO3"]},
    ],
}


def test_plan_is_seeded_and_labels_config_types(tmp_path):
    a = build_frames(BuildConfig.model_validate(PLAN))
    b = build_frames(BuildConfig.model_validate(PLAN))
    c = build_frames(BuildConfig.model_validate({**PLAN, "seed": 8}))
    assert [f.info["config_type"] for f in a] == ["li_bulk"] * 3 + ["decomposed"] * 3
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x.positions, y.positions)
    assert not np.allclose(a[0].positions, c[0].positions)
    # frames differ from each other (each has its own seed), and fragments were added
    assert not np.allclose(a[0].positions, a[1].positions)
    assert all(len(f) > 12 for f in a[3:])
    assert {s for f in a[3:] for s in f.get_chemical_symbols()} - {"Li"}


def test_build_resumes_from_finished_systems(tmp_path):
    cfg = BuildConfig.model_validate(PLAN)
    parts = tmp_path / "parts"
    first = build_frames(cfg, parts_dir=parts)
    saved = sorted(parts.iterdir())
    assert len(saved) == 2
    # a later run reuses the saved systems: poison the builder to prove nothing is rebuilt
    import active_learning.reference_data.build as sampling

    def boom(*a, **k):
        raise AssertionError("rebuilt a finished system")

    orig = sampling._perturbed
    sampling._perturbed = boom
    try:
        again = build_frames(cfg, parts_dir=parts)
    finally:
        sampling._perturbed = orig
    assert [len(f) for f in again] == [len(f) for f in first]
    np.testing.assert_allclose(again[4].positions, first[4].positions, atol=1e-7)


def test_hot_md_snapshots_with_the_reference_method(tmp_path):
    plan = {"seed": 1, "systems": [{"name": "md_hot_li", "build": {"builder": "li_bulk", "repeat": [1, 1, 1]},
                                    "count": 2, "md": {"temperature": 600, "timestep": 1.0, "steps_between": 2}}]}
    frames = build_frames(BuildConfig.model_validate(plan))
    assert len(frames) == 2 and all(f.info["config_type"] == "md_hot_li" for f in frames)
    assert not np.allclose(frames[0].positions, frames[1].positions)
    assert frames[0].calc is None


def test_build_command_writes_frames_and_plan(tmp_path, capsys):
    import yaml

    (tmp_path / "plan.yaml").write_text(yaml.safe_dump(PLAN))
    main(["data", "build", "-c", str(tmp_path / "plan.yaml"), "-o", str(tmp_path / "f.extxyz")])
    assert len(read_frames(tmp_path / "f.extxyz")) == 6
    assert (tmp_path / "f.plan.yaml").exists() and not (tmp_path / "f.extxyz.parts").exists()


@pytest.mark.parametrize("bad, pattern", [
    ({"seed": 0, "systems": [{"name": "x", "build": {"builder": "nope"}, "count": 1}]}, "unknown builder"),
    ({"seed": 0, "systems": [{"name": "x", "build": {"builder": "li_bulk", "repeat": [2, 2]}, "count": 1}]}, "repeat"),
    ({"seed": 0, "systems": []}, "systems"),
    ({"seed": 0, "systems": [{"name": "x", "build": {"builder": "li_bulk"}, "count": 0}]}, "count"),
])
def test_bad_plans_give_one_line(bad, pattern, tmp_path, capsys):
    import re

    import yaml

    (tmp_path / "plan.yaml").write_text(yaml.safe_dump(bad))
    with pytest.raises(SystemExit) as exc:
        main(["data", "build", "-c", str(tmp_path / "plan.yaml"), "-o", str(tmp_path / "f.extxyz")])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and re.search(pattern, err), err
    assert not (tmp_path / "f.extxyz").exists()
