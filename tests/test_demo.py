"""`./run demo` pieces that run in seconds: stage stamping and timing, the summary table, the up-front checks.

The pipeline the demo runs is tested end to end by tests/test_pipeline_dvc.py (same dvc.yaml, smaller params).
"""

from __future__ import annotations

import json
import sys
import time

from primps.stages import demo


def test_run_stamped_times_each_stage(capsys):
    script = ("import time\n"
              "print('Running stage \\'a\\':', flush=True); time.sleep(0.3)\n"
              "print('some output', flush=True)\n"
              "print('Running stage \\'b@x\\':', flush=True); time.sleep(0.1)\n")
    rc, times = demo.run_stamped([sys.executable, "-c", script], cwd=".", env=None, t0=time.perf_counter())
    out = capsys.readouterr().out
    assert rc == 0 and list(times) == ["a", "b@x"]
    assert 0.25 < times["a"] < 5 and 0.05 < times["b@x"] < 5
    assert "[00:00] Running stage 'a':" in out and "\nsome output\n" in out


def test_run_stamped_passes_the_exit_code():
    rc, times = demo.run_stamped([sys.executable, "-c", "raise SystemExit(3)"], ".", None, time.perf_counter())
    assert rc == 3 and times == {}


def test_summary_table(tmp_path):
    for key, fid in (("obama-full", 250.25), ("obama-scratch", 310.0)):
        (tmp_path / "eval" / key).mkdir(parents=True)
        (tmp_path / "eval" / key / "metrics.json").write_text(
            json.dumps({"fid": fid, "kid": 0.2, "kimg": 0.6, "n_gen": 64, "n_real": 100}))
    lines = demo.summary(tmp_path).splitlines()
    assert lines[0].split() == ["target", "strategy", "FID", "KID", "x1e3", "kimg"]
    assert lines[1].split() == ["obama", "scratch", "310.0", "200.0", "0.6"]  # scratch first, then full
    assert lines[2].split() == ["obama", "full", "250.2", "200.0", "0.6"]
    assert "no evaluations found" in demo.summary(tmp_path / "nothing")


def test_demo_without_lowshot_sets_is_one_line(monkeypatch, capsys, tmp_path):
    monkeypatch.setenv("PRIMPS_LOWSHOT_DIR", str(tmp_path / "missing"))
    assert demo.main([]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "low-shot target sets not found" in err[0]
