"""`primps report`: one self-contained HTML page from a run tree, opened in a real headless browser.

The run tree is built by hand (tiny PNGs, a real-image shard, fid.jsonl, metrics.json), laid out as `dvc repro`
leaves it, so these tests take about a second; tests/test_pipeline_dvc.py checks the report of a real pipeline run.
"""

from __future__ import annotations

import base64
import io
import json
import os
import re
import shutil
import subprocess
import tarfile
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image

from primps.stages import report
from primps.stages.cli import main as primps
from primps.trainers import runs


def _png(path: Path, h: int = 16, w: int = 16, seed: int = 0) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8)).save(path)


def _shard(path: Path, n: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, "w") as tf:
        for i in range(n):
            buf = io.BytesIO()
            Image.fromarray(np.full((8, 8, 3), 10 * i, np.uint8)).save(buf, format="PNG")
            for name, data in ((f"{i:06d}.png", buf.getvalue()), (f"{i:06d}.json", b"{}")):
                info = tarfile.TarInfo(name)
                info.size = len(data)
                tf.addfile(info, io.BytesIO(data))


def make_run_tree(root: Path, runs=(("obama", "scratch"), ("obama", "full"))) -> int:
    """A run tree as `dvc repro` leaves it; returns the number of pictures the report must show."""
    _png(root / "runs" / "preview.png", 34, 66)
    for k in ("000000k250", "000000k500", "000000k750", "000001k000", "000001k250", "000001k500", "000001k750",
              "000002k000"):
        _png(root / "runs" / "pretrain" / f"grid-{k}.png", seed=len(k))
    _shard(root / "data" / "real" / "obama" / "shard-000000.tar", 5)
    params = {"finetune": {"runs": {f"{t}-{s}": {"target": t, "args": ""} for t, s in runs}}}
    (root / "params.yaml").write_text(yaml.safe_dump(params))
    for i, (t, s) in enumerate(runs):
        ft, ev = root / "runs" / "finetune" / f"{t}-{s}", root / "eval" / f"{t}-{s}"
        ft.mkdir(parents=True)
        (ft / "fid.jsonl").write_text("".join(json.dumps({"kimg": k, "fid": 300 - 10 * k - i, "kid": 0.3,
                                                          "seed": 0}) + "\n" for k in (0, 0.2, 0.4, 0.6)))
        _png(ev / "samples.png", seed=i)
        ev.mkdir(parents=True, exist_ok=True)
        (ev / "metrics.json").write_text(json.dumps({"fid": 290.5 - i, "kid": 0.25, "kimg": 0.6, "n_gen": 128,
                                                     "n_real": 100}))
    targets = {t for t, _ in runs}
    # preview + 6 of 8 snapshots + per target (real grid + FID plot) + one samples grid per run
    return 1 + report.N_SNAPSHOTS + 2 * len(targets) + len(runs)


def test_report_embeds_every_picture(tmp_path):
    n_pics = make_run_tree(tmp_path)
    assert primps(["report", str(tmp_path)]) == 0
    page = (tmp_path / "report.html").read_text()
    srcs = re.findall(r'<img src="([^"]*)"', page)
    assert len(srcs) == n_pics
    assert all(s.startswith("data:image/png;base64,") for s in srcs)  # self-contained: nothing to fetch
    for s in srcs:
        assert Image.open(io.BytesIO(base64.b64decode(s.split(",", 1)[1]))).width > 0
    assert "obama, scratch: generated samples" in page and "obama, full: generated samples" in page
    assert "obama: real training images" in page
    assert "after 2 kimg" in page and "after 0.25 kimg" in page  # first and last snapshot kept
    # the results table: target, strategy and FID of each run, scratch before full
    assert re.search(r"<td>obama</td><td>scratch</td><td>290\.5</td>", page)
    assert page.index("<td>scratch</td>") < page.index("<td>full</td>")
    assert 'class="note"' not in page and "FID at selection" not in page


def test_report_shows_selection_fid_when_given(tmp_path):
    make_run_tree(tmp_path)
    m = tmp_path / "eval" / "obama-full" / "metrics.json"
    m.write_text(json.dumps({**json.loads(m.read_text()), "fid_select": 280.04}))
    page, _ = report.build_report(tmp_path)
    assert "<th>FID at selection</th>" in page
    assert re.search(r"<td>full</td><td>289\.5</td><td>280\.0</td>", page)
    assert re.search(r"<td>scratch</td><td>290\.5</td><td>–</td>", page)


def test_report_notes_missing_parts(tmp_path, capsys):
    (tmp_path / "eval" / "cat-full").mkdir(parents=True)
    out = tmp_path / "r" / "page.html"
    assert primps(["report", str(tmp_path), "--out", str(out)]) == 0
    page = out.read_text()
    err = capsys.readouterr().err
    assert "<img" not in page
    for missing in ("no evaluations found", "no preview grid found", "no pretraining snapshots found",
                    "no real images found for cat", "no samples found for cat-full", "no FID log found for cat"):
        assert missing in page and f"primps report: note: {missing}" in err


@pytest.mark.parametrize("argv, message", [
    (["report", "/nonexistent/run"], "run folder not found"),
    (["report", ".", "--out", "report.txt"], "--out must end in .html"),
])
def test_report_bad_input_is_one_line(argv, message, capsys, tmp_path):
    argv = [a if a != "." else str(tmp_path) for a in argv]
    assert primps(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]
    assert not (tmp_path / "report.txt").exists()


def make_repro_tree(root: Path, target: str = "grumpy_cat", arms=("scratch", "primitives-ps")) -> None:
    """A run tree as `primps repro` leaves it: the same run layout as dvc's, its paths from repro's own Layout,
    several pretraining sources and no params.yaml."""
    from primps.stages.repro.command import Layout

    L = Layout(root)
    _shard(L.data(target) / "shard-000000.tar", 5)
    for src in ("pinknoise", "primitives-ps"):
        for k in ("000000k500", "000001k000"):
            _png(L.pretrain(src) / f"grid-{k}.png", seed=len(src))
    for i, arm in enumerate(arms):
        ft, ev = L.finetune(arm, target), L.eval(arm, target)
        ft.mkdir(parents=True)
        (ft / "fid.jsonl").write_text("".join(json.dumps({"kimg": k, "fid": 200 - 10 * k - i, "seed": 0}) + "\n"
                                              for k in (0, 0.5, 1.0)))
        _png(ev / "samples.png", seed=i)
        (ev / "metrics.json").write_text(json.dumps({"fid": 150.25 - i, "kid": 0.1, "kimg": 1.0, "n_gen": 64,
                                                     "n_real": 100}))


def test_report_reads_a_repro_tree_like_a_dvc_tree(tmp_path):
    make_repro_tree(tmp_path)
    found = runs.gather_runs(tmp_path)
    assert [(r.target, r.strategy, len(r.log)) for r in found] == [("grumpy_cat", "scratch", 3),
                                                                  ("grumpy_cat", "primitives-ps", 3)]
    page, notes = report.build_report(tmp_path)
    assert re.search(r"<td>grumpy_cat</td><td>primitives-ps</td><td>149\.2</td>", page)
    assert "grumpy_cat: real training images" in page and "grumpy_cat: FID vs kimg" in page
    assert "pinknoise, after 1 kimg" in page and "primitives-ps, after 0.5 kimg" in page
    assert notes == ["no preview grid found (runs/preview.png or preview.png)"]
    # and a dvc tree, for comparison, by the same reader
    make_run_tree(tmp_path / "dvc")
    assert [(r.target, r.strategy) for r in runs.gather_runs(tmp_path / "dvc")] == [("obama", "scratch"),
                                                                                  ("obama", "full")]


def test_split_key_and_spread():
    assert runs.split_key("grumpy_cat-freezed", {}) == ("grumpy_cat", "freezed")
    assert runs.split_key("my-cat-full", {"my-cat-full": "my-cat"}) == ("my-cat", "full")
    assert runs.split_key("odd", {}) == ("odd", "?")
    assert runs.split_key("grumpy_cat-primitives-ps", {}, ("grumpy_cat", "grumpy")) == ("grumpy_cat", "primitives-ps")
    assert report.spread(list(range(10)), 4) == [0, 3, 6, 9]
    assert report.spread([1, 2], 6) == [1, 2]
    assert runs.snapshot_kimg(Path("grid-000012k064.png")) == pytest.approx(12.064)


def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if path := shutil.which(name):
            return path
    return None


CHECK_JS = """<script>window.addEventListener('load', () => {
  const imgs = [...document.images];
  const ok = imgs.filter(i => i.complete && i.naturalWidth > 0).length;
  const d = document.createElement('div'); d.id = 'imgcheck'; d.textContent = ok + '/' + imgs.length;
  document.body.appendChild(d);
});</script>"""


@pytest.mark.skipif(_chromium() is None, reason="no headless browser: install Chromium (apt-get install chromium) "
                                                 "to check that the report renders")
def test_report_renders_in_headless_chromium(tmp_path):
    n_pics = make_run_tree(tmp_path / "run")
    out, _ = report.write_report(tmp_path / "run", tmp_path / "report.html")
    # A copy with a tiny script that counts the images the browser actually decoded, read back with --dump-dom.
    checked = tmp_path / "checked.html"
    checked.write_text(out.read_text().replace("</body>", CHECK_JS + "</body>"))
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", f"--user-data-dir={tmp_path / 'p'}"]
    env = dict(os.environ, HOME=str(tmp_path))
    dom = subprocess.run([_chromium(), *flags, "--dump-dom", checked.as_uri()], capture_output=True, text=True,
                         timeout=120, env=env).stdout
    m = re.search(r'id="imgcheck">(\d+)/(\d+)<', dom)
    assert m, f"the page did not load in Chromium:\n{dom[:2000]}"
    assert (int(m.group(1)), int(m.group(2))) == (n_pics, n_pics)
    shot = tmp_path / "report.png"
    subprocess.run([_chromium(), *flags, "--window-size=1200,2600", f"--screenshot={shot}", out.as_uri()],
                   capture_output=True, timeout=120, env=env)
    assert Image.open(shot).size == (1200, 2600)
    if keep := os.environ.get("PRIMPS_KEEP_SCREENSHOT"):  # to look at it: PRIMPS_KEEP_SCREENSHOT=/tmp/report.png
        shutil.copy(shot, keep)


def test_evaluate_curve_names_the_strategy(tmp_path):
    from primps.trainers.loop import Trainer
    from primps.trainers.presets import get_preset
    from primps.trainers.runs import checkpoint_strategy

    tr = Trainer(get_preset("cpu-smoke"), "cpu", 0)
    tr.extra = {"strategy": "freezed"}
    tr.save(tmp_path / "ck.pt")
    assert checkpoint_strategy(tmp_path / "ck.pt") == "freezed"
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    assert checkpoint_strategy(tmp_path / "junk.pt") is None
