"""The dataset card: ``README.md`` beside the shards, in the Hugging Face Hub's format.

``dataset_card(manifest) -> str`` / ``write_dataset_card(shard_dir, manifest) -> Path``

The card starts with YAML front matter (``pretty_name``, ``license`` as an SPDX id, ``task_categories``,
``size_categories``, ``tags`` and ``configs``/``data_files`` naming ``shard-*.tar`` as the train split), so
``datasets.load_dataset(folder)`` reads only the shards and a published copy shows its licence. The prose says what
the images are, how they were made (with the paper), the exact recipe of ``config_hash`` and of the dataset id (a
standard-library Python block that recomputes both from the card alone and checks them), how to regenerate any
sample with primps, the limits, the licence and copyright holder, the files, and how to read the shards with
``datasets``, ``webdataset``, ``wids`` and ``tar``. Deterministic (no dates), like the manifest.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from primps.pipeline.atomic import atomic_write_bytes

CARD_NAME = "README.md"
#: The copyright holder named on the card of a synthetic set (the images are the output of primps' code).
COPYRIGHT_HOLDER = "the primps authors"
PAPER = ('Kyungjune Baek and Hyunjung Shim, "Commonality in Natural Images Rescues GANs: Pretraining GANs with '
         'Generic and Privacy-free Synthetic Data", CVPR 2022')
BIBTEX = """@inproceedings{baek2022commonality,
  title     = {Commonality in Natural Images Rescues GANs: Pretraining GANs with Generic and Privacy-free
               Synthetic Data},
  author    = {Baek, Kyungjune and Shim, Hyunjung},
  booktitle = {Proceedings of the IEEE/CVF Conference on Computer Vision and Pattern Recognition (CVPR)},
  year      = {2022}
}"""
# The Hub's size buckets, upper bounds exclusive.
_SIZES = ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M"),
          (10_000_000, "1M<n<10M"), (100_000_000, "10M<n<100M"), (1_000_000_000, "100M<n<1B"))


def size_category(n: int) -> str:
    """The Hub's ``size_categories`` bucket of ``n`` rows."""
    for bound, name in _SIZES:
        if n < bound:
            return name
    return "n>1B"


def _front_matter(m: dict) -> str:
    import yaml

    h, w = m["resolution"]
    synthetic = m["kind"] == "synthetic"
    variant = (m.get("config") or {}).get("variant", "primitives-ps")
    meta = {
        "pretty_name": (f"primps {variant} synthetic images {h}x{w} ({m['dataset_id']})" if synthetic else
                        f"primps ingest of {(m.get('config') or {}).get('source', 'real images')} {h}x{w} "
                        f"({m['dataset_id']})"),
        "license": "mit" if synthetic else "unknown",
        "task_categories": ["unconditional-image-generation"],
        "size_categories": [size_category(int(m["n_images"]))],
        "tags": (["synthetic", "procedurally-generated", "privacy-free", "gan-pretraining", variant, "webdataset",
                  "primps"] if synthetic else ["real-images", "low-shot", "webdataset", "primps"]),
        "configs": [{"config_name": "default", "data_files": [{"split": "train", "path": "shard-*.tar"}]}],
    }
    return "---\n" + yaml.safe_dump(meta, sort_keys=False, default_flow_style=False, width=1000) + "---\n"


def _canonical_def() -> list[str]:
    return ["def canonical(obj):  # the JSON form primps hashes",
            '    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode("utf-8")', ""]


def _synthetic_recipe(m: dict) -> list[str]:
    gv = m["generator_version"]
    quality = m.get("quality") if m["image_format"] == "jpg" else None
    id_payload = {"config_hash": m["config_hash"], "seed": m["seed"], "n_images": m["n_images"],
                  "shard_size": m["shard_size"], "format": m["image_format"], "quality": quality}
    canonical = json.dumps(id_payload, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return [
        "## How `config_hash` and the dataset id are computed", "",
        "*Canonical JSON* below means Python's `json.dumps(obj, sort_keys=True, separators=(\",\", \":\"), "
        "ensure_ascii=True)` (keys sorted, no spaces, non-ASCII escaped) encoded as UTF-8; `sha256` is the hex "
        "digest.", "",
        f"- `config_hash` = sha256 of the canonical JSON of `{{\"config\": CONFIG, \"generator_version\": "
        f"\"{gv}\"}}`, where CONFIG is the object in the *Config* block at the end of this card (every field of "
        "primps' `SynthConfig`, lists for tuples).",
        "- dataset id = `synth-` + the first 16 hex digits of the sha256 of the canonical JSON of "
        "`{\"config_hash\", \"format\", \"n_images\", \"quality\", \"seed\", \"shard_size\"}` (`quality` is null "
        "unless the format is jpg). For this set the hashed text is exactly:", "",
        "```text", canonical, "```", "",
        "The same in Python, standard library only, run in this folder (it reads the *Config* block of this card):",
        "",
        "```python",
        "import hashlib, json", "",
        *_canonical_def(),
        'card = open("README.md", encoding="utf-8").read()',
        'config = json.loads(card.split("```json")[-1].split("```")[0])  # the Config block, the last json block',
        f'config_hash = hashlib.sha256(canonical({{"config": config, "generator_version": "{gv}"}})).hexdigest()',
        "dataset_id = \"synth-\" + hashlib.sha256(canonical({",
        f"    \"config_hash\": config_hash, \"seed\": {m['seed']}, \"n_images\": {m['n_images']}, "
        f"\"shard_size\": {m['shard_size']},",
        f"    \"format\": \"{m['image_format']}\", \"quality\": {quality!r},",
        "})).hexdigest()[:16]",
        "print(config_hash, dataset_id)",
        f"assert (config_hash, dataset_id) == (\"{m['config_hash']}\", \"{m['dataset_id']}\")",
        "```", "",
    ]


def _ingest_recipe(m: dict) -> list[str]:
    cfg = m.get("config") or {}
    quality = cfg.get("quality") if m["image_format"] == "jpg" else None
    return [
        "## How the dataset id is computed", "",
        "dataset id = `real-` + the first 16 hex digits of the sha256 of the canonical JSON (Python's "
        "`json.dumps(obj, sort_keys=True, separators=(\",\", \":\"), ensure_ascii=True)`, UTF-8) of "
        "`{\"format\", \"ingest_version\", \"quality\", \"resolution\", \"sha256\"}`, where `sha256` is the list of "
        "the kept source files' sha256 (each sample's `json` holds its own) in sample order. In Python, standard "
        "library only, run in this folder:", "",
        "```python",
        "import glob, hashlib, json, tarfile", "",
        *_canonical_def(),
        "sources = []",
        "for shard in sorted(glob.glob(\"shard-*.tar\")):",
        "    with tarfile.open(shard) as tar:",
        "        sources += [json.load(tar.extractfile(t))[\"sha256\"] for t in tar if t.name.endswith(\".json\")]",
        "dataset_id = \"real-\" + hashlib.sha256(canonical({",
        f"    \"sha256\": sources, \"resolution\": {m['resolution'][0]}, \"format\": \"{m['image_format']}\", "
        f"\"quality\": {quality!r}, \"ingest_version\": {m.get('ingest_version')!r},",
        "})).hexdigest()[:16]",
        "print(dataset_id)",
        f"assert dataset_id == \"{m['dataset_id']}\"",
        "```", "",
    ]


def _reading(m: dict) -> list[str]:
    from primps.pipeline.manifest import CHECKSUMS_NAME, WIDS_INDEX_NAME

    fmt = m["image_format"]
    n_shards = m["n_shards"]
    decode = {"npy": "", "png": '.decode("rgb8")', "jpg": '.decode("rgb8")'}.get(fmt, "")
    return [
        "## Reading (no primps needed)", "",
        "Run these with `D` set to this folder's path; they work from any directory.", "",
        "```python",
        "from datasets import load_dataset  # Hugging Face datasets: rows {'" + fmt + "': image, 'json': {...}, "
        "'__key__', '__url__'}",
        "ds = load_dataset(D)[\"train\"]  # or load_dataset(\"webdataset\", data_dir=D)",
        "",
        "import glob, webdataset as wds  # plain webdataset: keys 'png' and 'json' (no dot)",
        f"ds = wds.WebDataset(sorted(glob.glob(D + \"/shard-*.tar\")), shardshuffle=False){decode}",
        "",
        "import os, wids  # random access: keys '.png' and '.json' (with the dot)",
        f"ds = wids.ShardListDataset(D + \"/{WIDS_INDEX_NAME}\", localname=os.path.abspath)",
        "```", "",
        "`localname=os.path.abspath` makes wids read the shards in place; without it wids copies them to "
        "`/tmp/_wids_cache` and keeps serving that copy after a shard is replaced. With several GPUs (ranks) and "
        "DataLoader workers, plain webdataset with `nodesplitter=wds.split_by_node` needs at least ranks x workers "
        f"shards (this set has {n_shards}); with fewer, use `resampled=True` and `.with_epoch(n)`, or wids with "
        "`wids.DistributedChunkedSampler`.", "",
        f"Check the shards: `cd D && sha256sum -c {CHECKSUMS_NAME}`, or `primps verify D`.", "",
    ]


def _files(m: dict) -> list[str]:
    from primps.pipeline.manifest import CHECKSUMS_NAME, SHARD_DIR_MANIFEST, WIDS_INDEX_NAME
    from primps.pipeline.shards import META_DIR

    fmt = m["image_format"]
    return [
        "## Files", "",
        f"- `shard-NNNNNN.tar`: WebDataset shards (plain ustar); sample `KEY` is `KEY.{fmt}` (the image) and "
        "`KEY.json` (its metadata), keys are zero-padded global indices in order.",
        f"- `{CHECKSUMS_NAME}`: sha256 of every shard in the format `sha256sum -c` reads (run it in this folder).",
        f"- `{WIDS_INDEX_NAME}`: wids-shard-index-v1 for random access (shard urls relative to the index file).",
        f"- `{SHARD_DIR_MANIFEST}`: the manifest (config, shard list with sizes and sha256), written last: a folder "
        "without it is incomplete. It is the authoritative copy for this folder and travels with it; the copy that "
        "`primps render` also writes to `--manifest-dir` is identical except for `shard_dir` (the path from that "
        "copy to this folder).",
        f"- `{META_DIR}/shard-NNNNNN.tar.sha256.json`: per-shard records that let an interrupted render resume.",
        "",
        f"Everything that is not a shard lives in the hidden `{META_DIR}/` folder so that tar globs and "
        "`load_dataset(\"webdataset\", data_dir=D)`, which reads every visible file as a shard, see only shards.",
        "",
    ]


def dataset_card(m: dict) -> str:
    """The Markdown dataset card of a shard set (see the module docstring)."""
    h, w = m["resolution"]
    synthetic = m["kind"] == "synthetic"
    rows = [("dataset id", m["dataset_id"]), ("kind", m["kind"]),
            ("images", f"{m['n_images']} in {m['n_shards']} shard(s)"),
            ("resolution", f"{h}x{w} (height x width), RGB"), ("image format", m["image_format"])]
    for key, label in (("generator_version", "generator version"), ("seed", "seed"), ("shard_size", "shard size"),
                       ("config_hash", "config hash")):
        if m.get(key) is not None:
            rows.append((label, str(m[key])))
    lines = [_front_matter(m), f"# {m['dataset_id']}", ""]
    if synthetic:
        cfg = m.get("config") or {}
        lines += [
            "Synthetic images for pretraining GANs, rendered by `primps render` with the Primitives-PS synthesizer "
            f"(variant `{cfg.get('variant')}`): random primitive shapes (lines, circles, ellipses, rectangles) "
            "with sizes drawn from a decaying distribution, over pink-noise backgrounds with a textured salient "
            "shape, i.e. only generic properties of natural images. No photograph went into them.", "",
            "| | |", "|---|---|", *(f"| {k} | `{v}` |" for k, v in rows), "",
            "## How they were made", "",
            f"The method is that of {PAPER}: pretrain a GAN on such images instead of a photo set such as FFHQ, "
            "then finetune it on a small target set. primps draws the image distribution of the authors' "
            "published generator (the `paper` preset; see the *Config* block for every parameter).", "",
            "```bibtex", BIBTEX, "```", "",
            "Each image is a pure function of (config, seed, index): sample `index` is drawn with its own random "
            "generator `numpy.random.Generator(numpy.random.PCG64(numpy.random.SeedSequence([seed, index])))`, "
            "in a fixed draw order, whatever the batch, order or number of workers. Sample key = `index` "
            "zero-padded; its `json` holds `index`, `seed`, `variant` and `config_hash`.", "",
            *_synthetic_recipe(m),
            "## Regenerating samples with primps", "",
            f"Any primps whose `primps.pipeline.config.GENERATOR_VERSION` is `{m['generator_version']}` (the "
            "version is part of `config_hash`, so a generator change gives other hashes) draws the same pixels. "
            "One sample:", "",
            "```python",
            "import json",
            "from primps.pipeline.config import SynthConfig",
            "from primps.pipeline.synth import render_one",
            "cfg = SynthConfig.from_dict(json.load(open(\".primps/manifest.json\"))[\"config\"])",
            f"img = render_one(cfg, {m['seed']}, {m['n_images'] // 2})  # uint8 [H, W, 3]: the decoded image of "
            f"sample {m['n_images'] // 2}",
            "```", "",
            "The whole set (same dataset id, same shard bytes with the same image codec): save the *Config* block "
            "as `config.yaml` (JSON is YAML) and run",
            "", "```bash",
            f"primps render --config config.yaml --seed {m['seed']} -n {m['n_images']} --shard-size "
            f"{m['shard_size']} --format {m['image_format']}"
            + (f" --quality {m['quality']}" if m["image_format"] == "jpg" else ""),
            "```", "",
            "## Limits", "",
            "- Synthetic and abstract: no photographs, no people, no faces, no personal data, no objects or scenes "
            "of the real world, no labels. The images carry no semantic content.",
            "- Made for pretraining generative models (GANs) before finetuning on a real target. Not a benchmark "
            "of image recognition, not a stand-in for photographs when measuring anything about the real world, "
            "and not a source of training data for recognising people or objects.",
            "- Image statistics match the published generator at 256x256; at other sizes they follow the same look "
            "(see primps' README). `primps fidelity` measures the gap.", "",
            "## Licence", "",
            f"SPDX-License-Identifier: MIT. Copyright (c) {COPYRIGHT_HOLDER}. The images are program output of "
            "primps (MIT licence), procedurally generated from a seed: no third-party content, no photographs, no "
            "personal data.", "",
        ]
    else:
        lines += [
            "Real images converted by `primps ingest` (RGB, centre-cropped to a square, LANCZOS-resized), as a "
            "low-shot GAN training target.", "",
            "| | |", "|---|---|", *(f"| {k} | `{v}` |" for k, v in rows), "",
            *_ingest_recipe(m),
            "## Limits", "",
            "- Derived from the source images, which may show people: treat it as personal data unless you know "
            "otherwise, and do not publish it without the right to do so.", "",
            "## Licence", "",
            "Unknown (`license: unknown`): the images keep their own licence, that of their source. Check the "
            "source's terms before sharing this set.", "",
        ]
    lines += _files(m) + _reading(m)
    if m.get("config") is not None:
        lines += ["## Config", "", "```json", json.dumps(m["config"], sort_keys=True, indent=1), "```", ""]
    return "\n".join(lines)


def write_dataset_card(shard_dir: str | os.PathLike, manifest: dict) -> Path:
    """Write ``<shard_dir>/README.md``, the first thing someone who finds the shards on a shared disk reads."""
    path = Path(shard_dir) / CARD_NAME
    atomic_write_bytes(path, dataset_card(manifest).encode("utf-8"))
    return path
