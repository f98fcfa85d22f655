"""`primps repro` as a package: ``command`` (the sub-command: options, plan, job graph), ``jobs`` (subprocess jobs
with markers and --resume), ``calib`` (measured speed), ``plan`` (kimg fitted to a budget), ``report`` (results
from the files the jobs leave)."""

from primps.stages.repro.command import register, run

__all__ = ["register", "run"]
