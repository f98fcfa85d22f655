"""Every sub-command rejects bad input up front: exit 2, one line on stderr, no traceback, nothing written.

Table-driven over the sub-commands the parser knows (nested ones such as `bench synth` included): a command
without a row in ROWS fails `test_every_subcommand_has_a_row`, so a new command gets covered when it is added.
Each row gives an argv that would be valid (placeholders in braces), its output options, and bad-argument cases.
For every output option two bad locations are tried: under /proc (not writable) and under a regular file.

The cases of one command run in one fresh interpreter (fast); it records per case the exit code, stderr, time,
whether torch/dask/numba/webdataset were imported (the checks must come before heavy imports) and any change to
the watched folders.
"""

from __future__ import annotations

import json
import pickle
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from primps.stages.cli import build_parser

HEAVY = ("torch", "dask", "distributed", "numba", "webdataset")
MAX_SECONDS = 3.0

# {placeholders}: syn32 (synthetic 32x32 manifest), real32 (ingest-kind 32x32 manifest folder), ckpt32/ckpt64
# (checkpoints), corrupt/truncated (broken checkpoints), missing (a path that does not exist), imgs (a folder with
# one image), work (a fresh folder for outputs). OUTPUTS: option -> "dir" or the file suffix it needs.
ROWS: dict[str, dict] = {
    "preview": dict(
        argv=["--out", "{work}/p.png"], outputs={"--out": ".png"},
        bad=[(["-n", "0"], "--n-images"), (["--seed", "-1"], "--seed"), (["-n", "x"], "invalid int value"),
             (["--resolution", "8"], "resolution"), (["--variant", "stripes"], "--variant"),
             (["--config", "{missing}"], "config file not found"), (["--out", "{work}/p.jpg"], "must end in .png"),
             (["--synth-preset", "fancy"], "preset")]),
    "bench synth": dict(
        argv=[], outputs={},
        bad=[(["-n", "0"], "--n-images"), (["--variant", "x"], "--variant"), (["--resolution", "8"], "resolution"),
             (["--seed", "-2"], "--seed")]),
    "render": dict(
        argv=["-n", "4", "--root", "{work}/data", "--manifest-dir", "{work}/man", "--workers", "0"],
        outputs={"--root": "dir", "--manifest-dir": "dir"},
        bad=[(["-n", "0"], "--n-images"), (["--shard-size", "0"], "--shard-size"), (["--seed", "-1"], "--seed"),
             (["--workers", "-1"], "--workers"), (["--format", "gif"], "format"),
             (["--format", "jpg", "--quality", "0"], "quality"), (["--resolution", "8"], "resolution"),
             (["--variant", "x"], "variant"), (["--config", "{missing}"], "config file not found"),
             (["--synth-preset", "fancy"], "preset")]),
    "verify": dict(
        argv=["{real32}"], outputs={},
        bad=[({"{real32}": "{missing}"}, "not found"), ({"{real32}": "{corrupt}"}, "manifest")]),
    "pretrain": dict(
        argv=["--manifest", "{syn32}", "--kimg", "1", "--out", "{work}/run"], outputs={"--out": "dir"},
        bad=[(["--kimg", "-1"], "--kimg"), (["--kimg", "0"], "--kimg"), (["--batch", "0"], "--batch"),
             (["--loader-workers", "-1"], "--loader-workers"), (["--threads", "0"], "--threads"),
             (["--resolution", "8"], "--resolution"), (["--train-preset", "small64"], "model resolution is 64"),
             (["--resume", "{corrupt}"], "not a primps checkpoint"),
             (["--resume", "{truncated}"], "truncated"), (["--resume", "{ckpt64}"], "model resolution is 64"),
             (["--manifest", "{missing}"], "manifest not found")]),
    "finetune": dict(
        argv=["--manifest", "{real32}", "--init", "{ckpt32}", "--kimg", "1", "--out", "{work}/ft"],
        outputs={"--out": "dir"},
        bad=[(["--kimg", "-1"], "--kimg"), (["--strategy", "freezed", "--freeze-d", "99"], "between 1 and 3"),
             (["--manifest", "{syn32}"], "synthetic set"), (["--init", "{ckpt64}"], "model resolution is 64"),
             (["--init", "{corrupt}"], "not a primps checkpoint"), (["--init", "{truncated}"], "truncated"),
             (["--eval-n-images", "1"], "--eval-n-images"), (["--eval-batch", "0"], "--eval-batch"),
             (["--strategy", "scratch"], "drop --init")]),
    "evaluate": dict(
        argv=["{ckpt32}", "--real", "{real32}", "--out", "{work}/ev"], outputs={"--out": "dir", "--cache-dir": "dir"},
        bad=[(["-n", "1"], "--n-images"), (["--batch", "0"], "--batch"), (["--grid", "0"], "--grid"),
             ({"{ckpt32}": "{ckpt64}"}, "model resolution is 64"), ({"{ckpt32}": "{corrupt}"}, "checkpoint"),
             ({"{ckpt32}": "{truncated}"}, "truncated"), (["--real", "{missing}"], "manifest not found"),
             (["--inception", "{missing}"], "Inception weights file not found"),
             (["--log", "{missing}"], "FID log not found")]),
    "ingest": dict(
        argv=["{imgs}", "-r", "32", "--out", "{work}/in"], outputs={"--out": "dir"},
        bad=[(["-r", "8"], "--resolution"), (["-r", "2048"], "--resolution"), (["--shard-size", "0"], "--shard-size"),
             (["--format", "gif"], "format"), (["--format", "jpg", "--quality", "101"], "quality"),
             ({"{imgs}": "{missing}"}, "source not found")]),
    "report": dict(
        argv=["{imgs}", "--out", "{work}/r.html"], outputs={"--out": ".html"},
        bad=[({"{imgs}": "{missing}"}, "not found"), (["--out", "{work}/r.txt"], ".html")]),
    "fidelity": dict(
        argv=["--reference", "{imgs}", "--resolution", "32", "-n", "4", "--no-fid", "--json", "{work}/f.json"],
        outputs={"--json": ".json", "--cache-dir": "dir"},
        bad=[(["-n", "1"], "--n-images"), (["--seed", "-1"], "--seed"), ({"{imgs}": "{missing}"}, "not found"),
             (["--synth-preset", "fancy"], "preset"), (["--variant", "x"], "variant"),
             (["--resolution", "8"], "resolution"),
             (["--json", "{work}/f.txt"], ".json"), (["--kid-subsets", "0"], "--kid-subsets"),
             (["--inception", "{missing}"], "Inception weights file not found")]),
    "repro": dict(
        argv=["--tiny", "--lowshot-dir", "{imgs}/..", "--targets", "imgs", "--out", "{work}/rp"],
        outputs={"--out": "dir"},
        bad=[(["--targets", "nobody"], "no images"), (["--arms", "scratch,ffhq"], "unknown arm"),
             (["--lowshot-dir", "{missing}"], "low-shot directory not found"), (["--n-gen", "1"], "--n-gen"),
             (["--train-preset", "huge"], "preset"), (["--device", "tpu"], "--device"),
             (["--concurrency", "0"], "--concurrency")]),
    "analyze filters": dict(
        argv=["{ckpt32}", "--out", "{work}/a.json"], outputs={"--out": ".json"},
        bad=[(["--nets", "X"], "--nets"), ({"{ckpt32}": "{corrupt}"}, "checkpoint"),
             ({"{ckpt32}": "{truncated}"}, "truncated"), ({"{ckpt32}": "{missing}"}, "not found")]),
}

RUNNER = r"""
import contextlib, io, json, os, sys, time, traceback
from primps.stages.cli import main

def tree(dirs):
    return sorted(os.path.join(r, n) for d in dirs for r, ds, fs in os.walk(d) for n in ds + fs)

spec = json.loads(sys.argv[1])
out = []
for argv in spec["cases"]:
    before = tree(spec["watch"])
    err, std = io.StringIO(), io.StringIO()
    t0 = time.perf_counter()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(std):
        try:
            rc = main(argv)
        except SystemExit as exc:
            rc = exc.code
        except BaseException:
            traceback.print_exc()
            rc = "exception"
    out.append({"argv": argv, "rc": rc, "stderr": err.getvalue(), "seconds": time.perf_counter() - t0,
                "heavy": sorted(m for m in %r if m in sys.modules), "changed": tree(spec["watch"]) != before})
print(json.dumps(out))
""" % (HEAVY,)


def _leaf_commands(parser, prefix=()) -> list[str]:
    sub = [a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction"]
    if not sub:
        return [" ".join(prefix)]
    return [leaf for name, p in sub[0].choices.items() for leaf in _leaf_commands(p, (*prefix, name))]


def _fake_checkpoint(path: Path, resolution: int) -> Path:
    """The metadata part of a primps checkpoint in torch.save's zip layout (tensors are not needed to reject)."""
    st = {"format": "primps-train-v1", "config": {"resolution": resolution}, "cur_nimg": 0, "seed": 0}
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("archive/data.pkl", pickle.dumps(st))
        zf.writestr("archive/version", "3\n")
    return path


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> dict[str, str]:
    from PIL import Image

    from primps.pipeline.manifest import build_manifest, write_manifest
    from primps.pipeline.shards import ShardInfo

    d = tmp_path_factory.mktemp("inputs")
    shards = [ShardInfo("shard-000000.tar", 10, 1024, "0" * 64)]
    syn = d / "syn32.json"
    write_manifest(syn, build_manifest(dataset_id="synth-x", kind="synthetic", resolution=(32, 32),
                                       image_format="png", shards=shards, shard_dir=d / "syn", manifest_path=syn))
    real = d / "real32" / ".primps" / "manifest.json"
    write_manifest(real, build_manifest(dataset_id="real-x", kind="ingest", resolution=(32, 32), image_format="png",
                                        shards=shards, shard_dir=real.parent.parent, manifest_path=real))
    (d / "imgs").mkdir()
    Image.new("RGB", (40, 40), (9, 99, 199)).save(d / "imgs" / "a.png")
    ck = _fake_checkpoint(d / "ck32.pt", 32)
    _fake_checkpoint(d / "ck64.pt", 64)
    (d / "truncated.pt").write_bytes(ck.read_bytes()[: ck.stat().st_size // 2])
    (d / "corrupt.pt").write_bytes(b"not a checkpoint 123\n" * 50)
    (d / "afile").write_text("a regular file\n")
    return {"syn32": str(syn), "real32": str(real.parent.parent), "ckpt32": str(ck), "ckpt64": str(d / "ck64.pt"),
            "truncated": str(d / "truncated.pt"), "corrupt": str(d / "corrupt.pt"), "imgs": str(d / "imgs"),
            "missing": str(d / "no" / "such.file"), "afile": str(d / "afile"), "root": str(d)}


def _cases(command: str, row: dict) -> list[tuple[list[str], str]]:
    """(argv with placeholders, expected text in the error) for every bad output location and bad argument."""
    base = [*command.split(), *row["argv"]]
    cases = []
    for flag, kind in row["outputs"].items():
        for bad in ("/proc/primps-bad", "{afile}/sub"):
            value = bad + "/x" if kind == "dir" else bad + kind
            argv = list(base)
            if flag in argv:
                argv[argv.index(flag) + 1] = value
            else:
                argv += [flag, value]
            cases.append((argv, flag))
    for change, needle in row["bad"]:
        if isinstance(change, dict):
            cases.append(([change.get(a, a) for a in base], needle))
        else:
            cases.append((base + change, needle))
    return cases


def test_every_subcommand_has_a_row():
    assert sorted(_leaf_commands(build_parser())) == sorted(ROWS), "add a row to ROWS for every new sub-command"


@pytest.mark.parametrize("command", sorted(ROWS))
def test_valid_argv_parses(command, inputs, tmp_path):
    argv = [a.format(work=tmp_path, **inputs) for a in [*command.split(), *ROWS[command]["argv"]]]
    assert callable(build_parser().parse_args(argv).func)


@pytest.mark.parametrize("command", sorted(ROWS))
def test_bad_input_one_line_exit_2_nothing_written(command, inputs, tmp_path):
    work = tmp_path / "work"
    cases = _cases(command, ROWS[command])
    argvs = [[a.format(work=work, **inputs) for a in argv] for argv, _ in cases]
    spec = {"cases": argvs, "watch": [str(tmp_path), inputs["root"]]}
    proc = subprocess.run([sys.executable, "-c", RUNNER, json.dumps(spec)], cwd=tmp_path, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = json.loads(proc.stdout.strip().splitlines()[-1])
    for (_, needle), r in zip(cases, results):
        what = f"{' '.join(r['argv'])}: {r['stderr']!r}"
        lines = r["stderr"].strip().splitlines()
        assert r["rc"] == 2, what
        assert len(lines) == 1 and "Traceback" not in r["stderr"], what
        assert lines[0].startswith("primps") and "error:" in lines[0] and needle in lines[0], what
        assert not r["changed"], f"{what}: something was written"
        assert not r["heavy"], f"{what}: imported {r['heavy']} before rejecting"
        assert r["seconds"] < MAX_SECONDS, f"{what}: took {r['seconds']:.1f} s"
    assert not work.exists()
