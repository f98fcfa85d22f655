"""Jobs for `primps repro`: run `primps` sub-commands as subprocesses, a few at a time, resumably.

A ``Job`` is one `primps ...` command line with the names of the jobs it waits for. ``run_jobs`` starts every job
whose dependencies have finished as soon as a slot is free (at most ``concurrency`` at once), writes each job's
output to ``LOGS/<job>.log`` and, when it exits 0, a marker ``STATE/<job>.json`` (status, wall time, command). On a
rerun a job with a ``done`` marker is skipped; a training job that left a checkpoint is restarted with ``--resume``.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from primps.pipeline.atomic import atomic_write_json


@dataclass
class Job:
    name: str                       # e.g. "finetune/pinknoise/obama" (also the log / marker name)
    argv: list[str]                 # arguments after `primps`
    deps: list[str] = field(default_factory=list)
    resume: Path | None = None      # checkpoint that, when present, continues an unfinished run (--resume)
    target_kimg: float | None = None  # training jobs: a checkpoint at this kimg means the job had finished
    out_dir: Path | None = None     # training jobs: cleared before a fresh (not resumed) start

    @property
    def slug(self) -> str:
        return self.name.replace("/", "__")


def checkpoint_kimg(path: Path) -> float | None:
    """kimg stored in a training checkpoint, or None if it cannot be read."""
    from primps.trainers.checkpoint import read_metadata

    try:
        return float(read_metadata(path)["cur_nimg"]) / 1000
    except Exception:  # noqa: BLE001 - an unreadable checkpoint just means "start again"
        return None


class JobRunner:
    """Runs jobs as `python -m primps.stages ARGV` subprocesses; state and logs live under ``root``."""

    def __init__(self, root: Path, concurrency: int, env: dict | None = None, poll_s: float = 0.5,
                 on_change: Callable[[], None] | None = None, echo: Callable[[str], None] | None = None):
        self.state_dir = Path(root) / "state"
        self.log_dir = Path(root) / "logs"
        self.concurrency = max(1, int(concurrency))
        self.env = dict(os.environ if env is None else env)
        self.poll_s = poll_s
        self.on_change = on_change or (lambda: None)
        self.echo = echo or (lambda msg: print(msg, flush=True))

    # ---------------------------------------------------------------------------------------------- state
    def marker(self, job: Job) -> Path:
        return self.state_dir / f"{job.slug}.json"

    def state(self, job: Job) -> dict:
        try:
            return json.loads(self.marker(job).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}

    def is_done(self, job: Job) -> bool:
        return self.state(job).get("status") == "done"

    def _write_state(self, job: Job, **rec) -> None:
        prev = self.state(job)
        atomic_write_json(self.marker(job), {**prev, "name": job.name, **rec})

    # ---------------------------------------------------------------------------------------------- one job
    def command(self, job: Job) -> list[str]:
        argv = list(job.argv)
        if job.resume is not None and Path(job.resume).is_file():
            argv += ["--resume", str(job.resume)]
        return [sys.executable, "-m", "primps.stages", *argv]

    def _finished_before(self, job: Job) -> bool:
        """A training job killed after its final checkpoint but before its marker was written."""
        if job.resume is None or job.target_kimg is None or not Path(job.resume).is_file():
            return False
        k = checkpoint_kimg(Path(job.resume))
        return k is not None and k * 1000 >= round(job.target_kimg * 1000)

    def _start(self, job: Job) -> tuple[subprocess.Popen, float]:
        cmd = self.command(job)
        if "--resume" not in cmd and job.out_dir is not None and Path(job.out_dir).is_dir():
            # An attempt killed before its first checkpoint: start clean, so that its logs hold one run.
            shutil.rmtree(job.out_dir)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log = open(self.log_dir / f"{job.slug}.log", "a", encoding="utf-8")
        log.write(f"\n# {time.strftime('%Y-%m-%dT%H:%M:%S%z')} primps {' '.join(cmd[3:])}\n")
        log.flush()
        attempts = self.state(job).get("attempts", 0) + 1
        self._write_state(job, status="running", attempts=attempts, argv=cmd[3:],
                          started=time.time(), log=str(log.name))
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=self.env)
        log.close()
        resumed = " (resumed)" if "--resume" in cmd else ""
        self.echo(f"repro: start {job.name}{resumed}")
        return proc, time.perf_counter()

    # ---------------------------------------------------------------------------------------------- the loop
    def run(self, jobs: list[Job]) -> dict[str, str]:
        """Run ``jobs`` (priority = list order) until all are done, failed or blocked; returns name -> status."""
        status: dict[str, str] = {}
        for job in jobs:
            if self.is_done(job):
                status[job.name] = "done"
            elif self._finished_before(job):
                self._write_state(job, status="done", rc=0, note="finished before a restart")
                status[job.name] = "done"
        if any(status.values()):
            skipped = [j.name for j in jobs if status.get(j.name) == "done"]
            if skipped:
                self.echo(f"repro: {len(skipped)} job(s) already done, skipped: {', '.join(skipped)}")
        running: dict[str, tuple[Job, subprocess.Popen, float]] = {}
        pending = [j for j in jobs if j.name not in status]
        try:
            while pending or running:
                for job in list(pending):
                    if len(running) >= self.concurrency:
                        break
                    dep = [status.get(d) for d in job.deps]
                    if any(s in ("failed", "blocked") for s in dep):
                        status[job.name] = "blocked"
                        pending.remove(job)
                        self._write_state(job, status="blocked")
                        self.echo(f"repro: skip {job.name}: a job it needs failed")
                        continue
                    if all(s == "done" for s in dep):
                        pending.remove(job)
                        proc, t0 = self._start(job)
                        running[job.name] = (job, proc, t0)
                for name, (job, proc, t0) in list(running.items()):
                    rc = proc.poll()
                    if rc is None:
                        continue
                    del running[name]
                    wall = time.perf_counter() - t0
                    prev = self.state(job)
                    total = float(prev.get("wall_s_total", 0.0)) + wall
                    ok = rc == 0
                    status[name] = "done" if ok else "failed"
                    self._write_state(job, status=status[name], rc=rc, wall_s=round(wall, 2),
                                      wall_s_total=round(total, 2), ended=time.time())
                    log = self.log_dir / f"{job.slug}.log"
                    self.echo(f"repro: {'done' if ok else f'FAILED (exit {rc}, see {log})'} {name} "
                              f"in {wall:.1f} s")
                    self.on_change()
                if pending or running:
                    time.sleep(self.poll_s)
        except BaseException:
            for job, proc, _ in running.values():
                self.echo(f"repro: stopping {job.name}")
                proc.send_signal(signal.SIGTERM)
            for job, proc, t0 in running.values():
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    proc.kill()
                # The stopped attempt's time still counts in the job's total (a SIGKILL'd repro cannot record it).
                total = float(self.state(job).get("wall_s_total", 0.0)) + time.perf_counter() - t0
                self._write_state(job, status="stopped", wall_s_total=round(total, 2), ended=time.time())
            raise
        return status
