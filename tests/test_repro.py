"""`primps repro`: bad inputs exit 2 before any work, the budget plan, the report readers, and (slow) the whole
--tiny path on the CPU with a rerun that skips finished jobs."""

import json
import math
import os

import pytest
from PIL import Image

from primps.stages.cli import main as primps
from primps.stages.repro.jobs import Job, JobRunner
from primps.stages.repro.plan import Speed, pick_concurrency, solve, steady_sec_per_kimg
from primps.trainers.runs import read_fid_log


@pytest.fixture(scope="module")
def lowshot(tmp_path_factory):
    """A low-shot folder with one tiny target set of synthesized JPEGs (stands in for obama/)."""
    import numpy as np

    root = tmp_path_factory.mktemp("lowshot")
    d = root / "faces"
    d.mkdir()
    rng = np.random.default_rng(0)
    for i in range(6):
        img = (rng.random((40, 48, 3)) * 255).astype("uint8")
        img[10:30, 12:36] = [200, 80 + 20 * i, 40]
        Image.fromarray(img).save(d / f"{i}.jpg", quality=90)
    return root


def repro(*argv):
    try:
        return primps(["repro", *argv])
    except SystemExit as exc:  # the parser's own errors (an unknown choice, say): one line, exit 2
        return exc.code


# ---------------------------------------------------------------------------------------------- bad input
@pytest.mark.parametrize("extra, needle", [
    (["--lowshot-dir", "{missing}"], "low-shot directory not found"),
    (["--targets", "nosuch"], "target 'nosuch'"),
    (["--arms", "scratch,bogus"], "unknown arm 'bogus'"),
    (["--arms", "scratch,scratch"], "twice"),
    (["--resolution", "48"], "resolution"),
    (["--n-gen", "1"], "--n-gen"),
    (["--finetune-kimg", "0"], "--finetune-kimg must be a number > 0"),
    (["--budget-min", "5", "--finetune-kimg", "1"], "--budget-min chooses the kimg itself"),
    (["--device", "tpu"], "--device"),
    (["--out", "{file}/sub"], "is a file, not a folder"),
    (["--synth-preset", "nope"], "--synth-preset"),
])
def test_bad_inputs_exit_2_before_any_work(lowshot, tmp_path, capsys, extra, needle):
    (tmp_path / "afile").write_text("x")
    fill = {"{missing}": str(tmp_path / "missing"), "{file}/sub": str(tmp_path / "afile" / "sub")}
    extra = [fill.get(x, x) for x in extra]
    out = tmp_path / "out"
    assert repro("--tiny", "--lowshot-dir", str(lowshot), "--targets", "faces", "--out", str(out), *extra) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and needle in err[0], err
    assert not out.exists()


def test_needs_a_budget_or_fixed_kimg(lowshot, tmp_path, capsys):
    assert repro("--lowshot-dir", str(lowshot), "--targets", "faces", "--device", "cpu",
                 "--out", str(tmp_path / "o")) == 2
    assert "--budget-min" in capsys.readouterr().err


def test_other_settings_in_the_same_out_are_refused(lowshot, tmp_path, capsys):
    out = tmp_path / "o"
    out.mkdir()
    (out / "plan.json").write_text(json.dumps({"config": {"seed": 99}}))
    assert repro("--tiny", "--lowshot-dir", str(lowshot), "--targets", "faces", "--out", str(out)) == 2
    assert "other settings" in capsys.readouterr().err


# ---------------------------------------------------------------------------------------------- plan
def test_plan_fits_the_budget_and_keeps_the_ratio():
    speed = Speed(concurrency=2, sec_per_kimg=3.0, start_s=20.0, eval_s=15.0)
    budget = 22 * 60
    p = solve(budget, 120.0, speed, n_pretrain=2, n_finetune=6, ratio=2.0, n_evals=10, batch=32)
    assert p["finetune_kimg"] > 0 and p["pretrain_kimg"] == pytest.approx(2 * p["finetune_kimg"], abs=0.032)
    assert p["expected_s"]["total"] <= budget
    assert p["eval_every"] == pytest.approx(p["finetune_kimg"] / 10)
    # Twice the budget buys more kimg; a faster machine too.
    p2 = solve(2 * budget, 120.0, speed, 2, 6, 2.0, 10, 32)
    p3 = solve(budget, 120.0, Speed(2, 1.5, 20.0, 15.0), 2, 6, 2.0, 10, 32)
    assert p2["finetune_kimg"] > p["finetune_kimg"] and p3["finetune_kimg"] > p["finetune_kimg"]


def test_plan_refuses_a_budget_below_the_fixed_costs():
    from primps.pipeline.errors import UsageError

    with pytest.raises(UsageError, match="budget is too small"):
        solve(300, 100.0, Speed(1, 3.0, 20.0, 60.0), 2, 6, 2.0, 10, 32)


def test_pick_concurrency_needs_a_real_gain():
    assert pick_concurrency({1: 1.0, 2: 1.05, 4: 1.08}) == 1
    assert pick_concurrency({1: 1.0, 2: 1.6, 4: 1.7}) == 2
    assert pick_concurrency({1: 1.0, 2: 1.6, 4: 2.5}) == 4


def test_steady_speed_skips_warmup_and_bad_lines(tmp_path):
    p = tmp_path / "stats.jsonl"
    p.write_text("\n".join([json.dumps({"sec_per_kimg": 50.0}), "garbage", json.dumps({"sec_per_kimg": 2.0}),
                            json.dumps({"sec_per_kimg": 4.0}), json.dumps({"sec_per_kimg": 3.0})]) + "\n")
    assert steady_sec_per_kimg(p) == 3.0
    assert steady_sec_per_kimg(tmp_path / "missing.jsonl") is None


def test_read_fid_log_keeps_one_point_per_kimg(tmp_path):
    p = tmp_path / "fid.jsonl"
    p.write_text("\n".join([json.dumps({"kimg": 0.5, "fid": 90.0}), json.dumps({"kimg": 1.0, "fid": 80.0}),
                            json.dumps({"kimg": 0.5, "fid": 85.0}), json.dumps({"kimg": 1.5, "fid": math.nan}),
                            '{"kimg": 2.0, "fi']) + "\n")   # a resumed run repeats 0.5; a kill cut the last line
    assert [(r["kimg"], r["fid"]) for r in read_fid_log(p)] == [(0.5, 85.0), (1.0, 80.0)]


def test_runner_resumes_from_a_checkpoint_only_when_there_is_one(tmp_path):
    ck = tmp_path / "run" / "last.pt"
    job = Job("finetune/a/b", ["finetune", "--kimg", "1"], resume=ck, target_kimg=1.0)
    runner = JobRunner(tmp_path, 1)
    assert "--resume" not in runner.command(job)
    ck.parent.mkdir()
    ck.write_bytes(b"not a checkpoint")
    assert runner.command(job)[-2:] == ["--resume", str(ck)]
    assert not runner._finished_before(job)   # unreadable: run (and resume) again


# ---------------------------------------------------------------------------------------------- the whole path
@pytest.mark.slow
def test_tiny_repro_writes_results_and_a_rerun_skips_finished_jobs(lowshot, tmp_path, capsys):
    out = tmp_path / "repro"
    argv = ["--tiny", "--lowshot-dir", str(lowshot), "--targets", "faces", "--arms", "scratch,pinknoise",
            "--n-gen", "4", "--out", str(out)]
    env_cache = os.environ.pop("PRIMPS_CACHE_DIR", None)
    try:
        assert repro(*argv) == 0
        first = capsys.readouterr().out
        assert "repro: plan:" in first
        res = json.loads((out / "results.json").read_text())
        assert res["complete"] is True and res["arms"] == ["scratch", "pinknoise"]
        assert {"plan", "config", "device", "cells", "jobs", "wall_s"} <= set(res)
        assert res["plan"]["finetune_kimg"] == 0.032 and res["plan"]["pretrain_kimg"] == 0.032
        cells = {(c["arm"], c["target"]): c for c in res["cells"]}
        assert set(cells) == {("scratch", "faces"), ("pinknoise", "faces")}
        for c in cells.values():
            assert math.isfinite(c["best_fid"]) and math.isfinite(c["rescored_fid"]) and c["rescore_seed"] == 10_007
            assert len(c["curve"]) >= 2 and c["best_kimg"] in [k for k, _ in c["curve"]]
            assert c["finetune_wall_s"] > 0
            with Image.open(out / c["samples"]) as im:
                im.verify()
        assert cells[("pinknoise", "faces")]["pretrain_wall_s"] > 0
        table = [ln for ln in (out / "results.md").read_text().splitlines() if ln.startswith("| ")]
        assert len(table) == 1 + 2 and table[1].startswith("| scratch | faces |")
        with Image.open(out / "fid_faces.png") as im:
            im.verify()
        assert all(j["status"] == "done" and j["attempts"] == 1 for j in res["jobs"].values())

        # Rerun: nothing runs again.
        logs = {p.name: p.read_text() for p in (out / "logs").iterdir()}
        assert repro(*argv) == 0
        again = capsys.readouterr().out
        assert "resuming" in again and "repro: start" not in again
        assert {p.name: p.read_text() for p in (out / "logs").iterdir()} == logs

        # A finetune killed after its last checkpoint but before its marker: not retrained; its evaluation reruns.
        (out / "state" / "finetune__pinknoise__faces.json").unlink()
        (out / "state" / "evaluate__pinknoise__faces.json").unlink()
        assert repro(*argv) == 0
        third = capsys.readouterr().out
        assert "start evaluate/pinknoise/faces" in third and "start finetune" not in third
        assert (out / "logs" / "finetune__pinknoise__faces.log").read_text() == logs["finetune__pinknoise__faces.log"]
    finally:
        if env_cache is not None:
            os.environ["PRIMPS_CACHE_DIR"] = env_cache


def test_kimg_on_the_command_line_is_not_rounded():
    from primps.stages.repro.command import num

    assert float(num(1234.564)) == 1234.564 and float(num(0.032)) == 0.032
