"""`primps verify <dir or manifest>`: re-hash every shard and check it against its manifest.

Checks per shard: the file exists, its size and sha256 match the manifest, it reads as a tar, its number of
distinct sample keys matches, and (when present) the sha256 sidecar and the folder's ``.primps/SHA256SUMS`` agree.
Also checks that the shard counts sum to ``n_images``. Exit 0 when all is well; 1 naming every bad or missing shard;
2 for an unreadable manifest.

``verify_manifest(manifest) -> list[str]`` returns the problems (empty when all is well).
A directory argument may be a shard directory (holding ``.primps/manifest.json``, or ``manifest.json`` in the
older layout) or a manifest directory (every ``*.json`` primps manifest in it is verified).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from primps.pipeline.errors import UsageError
from primps.stages import checks


def verify_manifest(m) -> list[str]:
    import tarfile

    from primps.pipeline.manifest import CHECKSUMS_NAME
    from primps.pipeline.shards import count_samples, file_sha256, sidecar_path

    problems: list[str] = []
    total = 0
    sums_path = m.shard_dir() / CHECKSUMS_NAME
    sums = None
    if sums_path.is_file():
        sums = {}
        for line in sums_path.read_text(errors="replace").splitlines():
            digest, _, name = line.partition("  ")
            sums[name] = digest
    for info, path in zip(m.shards, m.shard_paths()):
        p = Path(path)
        total += info.n_samples
        if not p.is_file():
            problems.append(f"{info.file}: missing ({p})")
            continue
        digest, size = file_sha256(p)
        bad = []
        if size != info.bytes:
            bad.append(f"size {size} != {info.bytes}")
        if digest != info.sha256:
            bad.append("sha256 mismatch")
        try:
            n, _ = count_samples(p)
            if n != info.n_samples:
                bad.append(f"{n} samples != {info.n_samples}")
        except (tarfile.TarError, OSError, EOFError) as exc:
            bad.append(f"unreadable tar ({exc.__class__.__name__})")
        side = sidecar_path(p)
        if side.is_file():
            try:
                if json.loads(side.read_text()).get("sha256") != info.sha256:
                    bad.append("sidecar sha256 differs from manifest")
            except ValueError:
                bad.append("sidecar unreadable")
        if sums is not None and sums.get(info.file) != info.sha256:
            bad.append(f"{CHECKSUMS_NAME} differs from manifest")
        if bad:
            problems.append(f"{info.file}: " + "; ".join(bad))
    if total != m.n_images:
        problems.append(f"manifest: shard counts sum to {total}, n_images is {m.n_images}")
    return problems


def _manifests_for(target: Path) -> list:
    from primps.pipeline.manifest import find_folder_manifest, load_manifest

    if target.is_dir() and find_folder_manifest(target) is None:
        found = []
        for f in sorted(target.glob("*.json")):
            try:
                found.append(load_manifest(f))
            except UsageError:
                continue
        if not found:
            raise UsageError(f"no primps manifest in {target}")
        return found
    return [load_manifest(target)]


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "verify", help="re-hash shards and check them against their manifest",
        description="Recompute sha256, sizes and sample counts of every shard named by a manifest. Exit 0 when all "
                    "is well, 1 naming every bad or missing shard.")
    p.add_argument("target", help="manifest JSON, shard directory (with .primps/manifest.json) or manifest directory")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from primps.pipeline.manifest import stray_files

    target = checks.existing_path(args.target, "TARGET")
    status = 0
    for m in _manifests_for(target):
        problems = verify_manifest(m)
        if problems:
            status = 1
            for line in problems:
                print(f"BAD {m.dataset_id} {line}", file=sys.stderr)
            print(f"primps verify: {m.path}: {len(problems)} problem(s)", file=sys.stderr)
        else:
            print(f"OK {m.dataset_id}: {len(m.shards)} shards, {m.n_images} images ({m.path})")
        stray = stray_files(m.shard_dir(), m.shards)
        if stray:
            print(f"primps verify: note: {', '.join(stray[:5])}{' ...' if len(stray) > 5 else ''} beside the shards "
                  f"of {m.dataset_id}: Hugging Face datasets would read them as shards; move them out (a rerun of "
                  "render or ingest moves old-layout files into .primps/)", file=sys.stderr)
    return status
