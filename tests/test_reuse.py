"""Shard folders as other projects meet them, with primps not importable: Hugging Face `datasets` loads the folder in
one line, `sha256sum -c` checks it, the dataset card's recipe rebuilds config_hash and the dataset id from the card
alone, wids reads from any directory, render warns about too few shards, and README's "Reuse the shards" runs as
written."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
CLI = "import sys; from primps.stages.cli import main; sys.exit(main(sys.argv[1:]))"
N, SHARD, SEED = 48, 6, 3  # 8 shards of 32x32
HAS_DATASETS = importlib.util.find_spec("datasets") is not None
needs_datasets = pytest.mark.skipif(not HAS_DATASETS, reason="Hugging Face datasets is not installed (extra 'test')")

# Runs a script with primps made unimportable: the editable install's finder and path hooks are removed and the
# checkout is taken off sys.path (python -I already ignores PYTHONPATH and the working directory).
BOOT = r"""
import importlib.util, runpy, sys
def _editable(f):
    return "editable" in (getattr(f, "__module__", None) or type(f).__module__)
sys.meta_path[:] = [f for f in sys.meta_path if not _editable(f)]
sys.path_hooks[:] = [h for h in sys.path_hooks if not _editable(h)]
sys.path_importer_cache.clear()
repo = sys.argv.pop(1)
sys.path[:] = [p for p in sys.path if p.rstrip("/") not in (repo, repo.rsplit("/", 1)[0])]
assert importlib.util.find_spec("primps") is None, "primps is still importable"
script = sys.argv.pop(1)
sys.argv[0] = script
runpy.run_path(script, run_name="__main__")
"""


def primps(*args, cwd, **kw):
    return subprocess.run([sys.executable, "-c", CLI, *map(str, args)], cwd=cwd, capture_output=True, text=True,
                          **kw)


def without_primps(code: str, cwd: Path, tmp: Path, timeout: int = 300) -> subprocess.CompletedProcess:
    """Run ``code`` as a script in ``cwd`` with primps not importable and caches under ``tmp``."""
    script = tmp / f"script-{hashlib.sha256(code.encode()).hexdigest()[:8]}.py"
    script.write_text(code)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "HF_"))}
    env.update(HF_HOME=str(tmp / "hf"), HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1", WIDS_CACHE=str(tmp / "wids"))
    return subprocess.run([sys.executable, "-I", "-c", BOOT, str(REPO), str(script)], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=timeout)


def code_blocks(text: str, lang: str) -> list[str]:
    return re.findall(rf"^```{lang}\n(.*?)^```", text, re.S | re.M)


@pytest.fixture(scope="module")
def synth(tmp_path_factory) -> Path:
    """A rendered set: 48 images in 8 shards; returns its shard folder."""
    base = tmp_path_factory.mktemp("synth")
    r = primps("render", "--resolution", 32, "-n", N, "--shard-size", SHARD, "--seed", SEED, "--root", "data",
               "--manifest-dir", "man", "--workers", 0, "--no-progress", cwd=base, timeout=300)
    assert r.returncode == 0, r.stderr
    (folder,) = list((base / "data").iterdir())
    return folder


@pytest.fixture(scope="module")
def real(tmp_path_factory) -> Path:
    """An ingested set of 5 real (random-pixel) images in 2 shards; returns its folder."""
    from PIL import Image

    base = tmp_path_factory.mktemp("real")
    (base / "src").mkdir()
    rng = np.random.default_rng(0)
    for i in range(5):
        Image.fromarray(rng.integers(0, 256, (40, 48, 3), dtype=np.uint8)).save(base / "src" / f"{i}.png")
    r = primps("ingest", base / "src", "--resolution", 32, "--shard-size", 3, "--out", base / "out", "--no-progress",
               cwd=base, timeout=300)
    assert r.returncode == 0, r.stderr
    return base / "out"


def _manifest(folder: Path) -> dict:
    return json.loads((folder / ".primps" / "manifest.json").read_text())


def test_only_shards_and_the_card_are_visible(synth, real):
    for folder, n_shards in ((synth, N // SHARD), (real, 2)):
        visible = sorted(p.name for p in folder.iterdir() if not p.name.startswith("."))
        assert visible == ["README.md", *(f"shard-{i:06d}.tar" for i in range(n_shards))]
        assert sorted(p.name for p in (folder / ".primps").iterdir()) == sorted(
            ["SHA256SUMS", "manifest.json", "wids-index.json", *(f"shard-{i:06d}.tar.sha256.json"
                                                                 for i in range(n_shards))])


@needs_datasets
@pytest.mark.parametrize("which", ["synth", "real"])
def test_datasets_loads_the_folder_in_one_line_without_primps(which, request, tmp_path):
    folder = request.getfixturevalue(which)
    m = _manifest(folder)
    code = f"""
import glob, io, json, tarfile
import numpy as np
from PIL import Image
from datasets import load_dataset

D = {str(folder)!r}
expected = {{}}  # what the tars hold, read with the standard library
for shard in sorted(glob.glob(D + "/shard-*.tar")):
    with tarfile.open(shard) as tar:
        for t in tar:
            key, ext = t.name.split(".", 1)
            expected.setdefault(key, {{}})[ext] = tar.extractfile(t).read()
assert len(expected) == {m["n_images"]}
for ds in (load_dataset(D)["train"], load_dataset("webdataset", data_dir=D)["train"]):
    assert sorted(ds.column_names) == ["__key__", "__url__", "json", "png"], ds.column_names
    keys = []
    for row in ds:
        want = expected[row["__key__"]]
        keys.append(row["__key__"])
        assert row["png"].size == (32, 32) and row["png"].mode == "RGB"
        np.testing.assert_array_equal(np.asarray(row["png"]), np.asarray(Image.open(io.BytesIO(want["png"]))))
        assert row["json"] == json.loads(want["json"])  # a struct, not bytes
    assert keys == sorted(expected), keys  # every sample once, in order
    print("loaded", len(ds))
"""
    r = without_primps(code, cwd=tmp_path, tmp=tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    assert r.stdout.split() == ["loaded", str(m["n_images"])] * 2
    assert "metadata block was not found" not in r.stderr  # the card's YAML front matter was read


@pytest.mark.parametrize("which", ["synth", "real"])
def test_card_front_matter_is_hub_metadata(which, request):
    folder = request.getfixturevalue(which)
    card = (folder / "README.md").read_text()
    assert card.startswith("---\n")
    meta = yaml.safe_load(card.split("---\n")[1])
    assert meta["configs"] == [{"config_name": "default", "data_files": [{"split": "train", "path": "shard-*.tar"}]}]
    assert meta["license"] == ("mit" if which == "synth" else "unknown")
    assert meta["task_categories"] == ["unconditional-image-generation"]
    assert meta["size_categories"] == ["n<1K"]
    assert _manifest(folder)["dataset_id"] in meta["pretty_name"] and meta["tags"]
    if which == "synth":
        assert "SPDX-License-Identifier: MIT" in card and "Copyright (c) the primps authors" in card
        assert "Baek" in card and "CVPR 2022" in card and "no people" in card
    if importlib.util.find_spec("huggingface_hub") is not None:  # the Hub's own parser agrees
        from huggingface_hub import DatasetCard

        data = DatasetCard.load(folder / "README.md").data
        assert data.license == meta["license"] and data.configs == meta["configs"]


@pytest.mark.skipif(shutil.which("sha256sum") is None, reason="GNU sha256sum not on PATH")
def test_sha256sum_checks_the_shards(synth, tmp_path):
    r = subprocess.run(["sha256sum", "-c", ".primps/SHA256SUMS"], cwd=synth, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.splitlines() == [f"shard-{i:06d}.tar: OK" for i in range(N // SHARD)]
    copy = tmp_path / "copy"
    shutil.copytree(synth, copy)
    victim = copy / "shard-000005.tar"
    data = bytearray(victim.read_bytes())
    data[1000] ^= 1
    victim.write_bytes(bytes(data))
    r = subprocess.run(["sha256sum", "-c", ".primps/SHA256SUMS"], cwd=copy, capture_output=True, text=True)
    assert r.returncode == 1 and "shard-000005.tar: FAILED" in r.stdout


def _section(card: str, heading: str) -> str:
    return card.split(heading, 1)[1].split("\n## ", 1)[0]


def test_card_recipe_rebuilds_config_hash_and_dataset_id_from_the_card_alone(synth, tmp_path):
    m = _manifest(synth)
    card = (synth / "README.md").read_text()
    recipe = _section(card, "## How `config_hash` and the dataset id are computed")
    # 1. The card's Python block, run where nothing but the card is, without primps.
    alone = tmp_path / "alone"
    alone.mkdir()
    shutil.copy(synth / "README.md", alone / "README.md")
    (code,) = code_blocks(recipe, "python")
    r = without_primps(code, cwd=alone, tmp=tmp_path)
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.split() == [m["config_hash"], m["dataset_id"]]
    # 2. The prose, implemented here: the config block, the generator version and the quoted id text.
    config = json.loads(code_blocks(card, "json")[-1])
    gv = re.search(r'"generator_version": "([^"]+)"', recipe).group(1)
    canonical = json.dumps({"config": config, "generator_version": gv}, sort_keys=True, separators=(",", ":"),
                           ensure_ascii=True)
    assert hashlib.sha256(canonical.encode()).hexdigest() == m["config_hash"]
    (id_text,) = code_blocks(recipe, "text")
    payload = json.loads(id_text)
    assert payload == {"config_hash": m["config_hash"], "seed": SEED, "n_images": N, "shard_size": SHARD,
                       "format": "png", "quality": None}
    assert "synth-" + hashlib.sha256(id_text.strip().encode()).hexdigest()[:16] == m["dataset_id"]


def test_ingest_card_recipe_rebuilds_the_dataset_id(real, tmp_path):
    card = (real / "README.md").read_text()
    (code,) = code_blocks(_section(card, "## How the dataset id is computed"), "python")
    copy = tmp_path / "copy"
    copy.mkdir()
    for p in real.glob("shard-*.tar"):  # the shards and the card, no .primps/
        shutil.copy(p, copy / p.name)
    r = without_primps(code, cwd=copy, tmp=tmp_path)
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.split() == [_manifest(real)["dataset_id"]]


def test_card_render_command_regenerates_the_same_set(synth, tmp_path):
    card = (synth / "README.md").read_text()
    config = code_blocks(card, "json")[-1]
    (tmp_path / "config.yaml").write_text(config)  # "save the Config block as config.yaml"
    (command,) = code_blocks(_section(card, "## Regenerating samples with primps"), "bash")
    args = command.split()
    assert args[:2] == ["primps", "render"]
    r = primps(*args[1:], "--workers", 0, "--no-progress", cwd=tmp_path, timeout=300)
    assert r.returncode == 0, r.stderr
    again = tmp_path / "data" / "synthetic" / _manifest(synth)["dataset_id"]
    assert (again / ".primps" / "SHA256SUMS").read_bytes() == (synth / ".primps" / "SHA256SUMS").read_bytes()
    assert (again / "README.md").read_bytes() == (synth / "README.md").read_bytes()


def test_wids_index_works_from_any_directory_without_a_cache_copy(synth, tmp_path):
    code = f"""
import os, sys
import wids
index = {str(synth / ".primps" / "wids-index.json")!r}
for path in (index, os.path.relpath(index)):
    ds = wids.ShardListDataset(path, localname=os.path.abspath, transformations=[])
    assert len(ds) == {N}
    s = ds[{N - 1}]
    assert s["__key__"] == "{N - 1:06d}" and sorted(k for k in s if not k.startswith("__")) == [".json", ".png"]
assert not os.path.exists(os.environ["WIDS_CACHE"]), os.listdir(os.environ["WIDS_CACHE"])
print("ok")
"""
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    r = without_primps(code, cwd=elsewhere, tmp=tmp_path)
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.strip().endswith("ok")
    assert not list(synth.glob("*.lock"))


def test_too_few_shards_rule():
    from primps.pipeline.render import too_few_shards

    assert too_few_shards(8, 600, 8) is None and too_few_shards(1, 600, 0) is None
    line = too_few_shards(6, 600, 8)
    assert "6 shard(s) < --min-shards 8" in line and "--shard-size 75 gives 8" in line and "\n" not in line
    assert "more images" in too_few_shards(2, 4, 8)


def test_render_warns_in_one_line_when_too_few_shards(tmp_path):
    base = ["render", "--resolution", 16, "-n", 16, "--shard-size", 8, "--root", "d", "--manifest-dir", "m",
            "--workers", 0, "--no-progress"]
    r = primps(*base, cwd=tmp_path, timeout=300)
    assert r.returncode == 0, r.stderr
    warnings = [line for line in r.stderr.splitlines() if "warning" in line]
    assert len(warnings) == 1 and "2 shard(s) < --min-shards 8" in warnings[0] and "--shard-size 2 gives 8" in \
        warnings[0], r.stderr
    r = primps(*base, "--min-shards", 2, cwd=tmp_path, timeout=300)
    assert r.returncode == 0 and "warning" not in r.stderr, r.stderr


def test_old_layout_folder_still_loads_and_a_rerun_tidies_it(synth, tmp_path):
    base = tmp_path / "copy"
    shutil.copytree(synth.parent.parent, base)
    folder = base / "data" / synth.name
    before = {p.relative_to(folder): p.read_bytes() for p in folder.rglob("*") if p.is_file()}
    meta = folder / ".primps"
    old = {**json.loads((meta / "manifest.json").read_text()), "shard_dir": ".", "wids_index": "wids-index.json"}
    (folder / "manifest.json").write_text(json.dumps(old))  # the layout before .primps/: all beside the shards
    for name in ("wids-index.json", *(p.name for p in meta.glob("*.sha256.json"))):
        os.replace(meta / name, folder / name)
    for name in ("SHA256SUMS", "manifest.json"):
        (meta / name).unlink()
    meta.rmdir()
    r = primps("verify", folder, cwd=tmp_path)
    assert r.returncode == 0 and "note: manifest.json, shard-000000.tar.sha256.json" in r.stderr, r.stderr
    r = primps("render", "--resolution", 32, "-n", N, "--shard-size", SHARD, "--seed", SEED, "--root", "data",
               "--manifest-dir", "man", "--workers", 0, "--no-progress", cwd=base, timeout=300)
    assert r.returncode == 0, r.stderr
    assert f"{N} skipped" in r.stderr  # the moved resume records still count
    assert {p.relative_to(folder): p.read_bytes() for p in folder.rglob("*") if p.is_file()} == before
    r = primps("verify", folder, cwd=tmp_path)
    assert r.returncode == 0 and "note" not in r.stderr, r.stderr


def test_old_manifest_path_gets_an_error_naming_the_new_place(synth):
    from primps.pipeline.errors import UsageError
    from primps.pipeline.manifest import load_manifest

    with pytest.raises(UsageError, match=r"\.primps/manifest\.json now: pass the folder"):
        load_manifest(synth / "manifest.json")
    assert load_manifest(synth).dataset_id == _manifest(synth)["dataset_id"]


@needs_datasets
def test_readme_reuse_section_runs_as_written(tmp_path):
    """Every block of README's "Reuse the shards", in order, in one folder: bash with bash, Python without primps,
    and the blocks headed '# FILE.py: torchrun ARGS FILE.py' with torchrun (python -m torch.distributed.run)."""
    readme = (REPO / "README.md").read_text()
    section = readme.split("\n## Reuse the shards\n", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"^```(bash|python)\n(.*?)^```", section, re.S | re.M)
    assert [lang for lang, _ in blocks] == ["bash", "python", "python", "python"]
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
               HF_HOME=str(tmp_path / "hf"), HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1")
    work = tmp_path / "work"
    work.mkdir()
    for lang, code in blocks:
        if lang == "bash":
            r = subprocess.run(["bash", "-e", "-c", code], cwd=work, env=env, capture_output=True,
                               text=True, timeout=300)
            assert r.returncode == 0, r.stdout + r.stderr
            assert r.stdout.count(": OK") == 8 and "000000.json\n000000.png" in r.stdout
            continue
        head = re.match(r"# (\S+\.py): torchrun (.*) \1\n", code)
        if head is None:
            r = without_primps(code, cwd=work, tmp=tmp_path)
        else:
            (work / head.group(1)).write_text(code)
            r = subprocess.run([sys.executable, "-m", "torch.distributed.run", *head.group(2).split(), head.group(1)],
                               cwd=work, env=env, capture_output=True, text=True, timeout=300)
        assert r.returncode == 0, (code.splitlines()[0], r.stdout[-2000:], r.stderr[-4000:])
