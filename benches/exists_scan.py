#!/usr/bin/env python3
"""The baseline for darn's first look: what an old repair script does to find broken runs.

It lists every run directory of an experiment (both layouts) and checks which of the files the
old scripts look at exist, reading nothing. Prints the number of runs with a missing file.
Usage: exists_scan.py EXPERIMENT_DIR
"""

import os
import sys

RUN_FILES = (
    "agent/result.json",
    "agent/output.txt",
    "agent/timing.json",
    "agent/stdout.log",
    "agent/command_log.json",
    "judge/result.json",
    "judge_prompt.md",
    "run_result.json",
    "report.json",
    "report.md",
)


def runs(root):
    phases = [os.path.join(root, p) for p in ("completed", "in_progress")]
    bases = [p for p in phases if os.path.isdir(p)] or [root]
    for base in bases:
        for tier in sorted(os.listdir(base)):
            tier_dir = os.path.join(base, tier)
            if not (tier.startswith("T") and os.path.isdir(tier_dir)):
                continue
            for subtest in sorted(os.listdir(tier_dir)):
                sub_dir = os.path.join(tier_dir, subtest)
                if not os.path.isdir(sub_dir):
                    continue
                for run in sorted(os.listdir(sub_dir)):
                    if run.startswith("run_"):
                        yield os.path.join(sub_dir, run)


def main():
    root = sys.argv[1]
    broken = 0
    for run in runs(root):
        judges = os.path.join(run, "judge")
        slots = [d for d in os.listdir(judges) if d.startswith("judge_")] if os.path.isdir(judges) else []
        files = list(RUN_FILES) + [f"judge/{s}/judgment.json" for s in slots]
        if not all(os.path.exists(os.path.join(run, f)) for f in files):
            broken += 1
    print(broken)


if __name__ == "__main__":
    main()
