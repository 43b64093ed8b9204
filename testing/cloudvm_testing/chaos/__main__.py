"""``python -m cloudvm_testing.chaos --trials N --seed S --backends aws,gcp,azure``: the campaign;
its last line counts what broke a promise, and it exits 1 if anything did."""

from __future__ import annotations

import argparse
import sys

from cloudvm_testing.chaos.campaign import campaigns, quiet, summary
from cloudvm_testing.chaos.plan import seeds


def parser() -> argparse.ArgumentParser:
    made = argparse.ArgumentParser(prog="python -m cloudvm_testing.chaos", description=__doc__)
    made.add_argument("--trials", type=int, default=30, help="trials per backend")
    made.add_argument("--seed", type=int, default=1, help="the campaign's seed")
    made.add_argument("--backends", default="aws,gcp,azure")
    made.add_argument("--trial", type=int, action="append", default=[], help="replay the trial of this seed")
    made.add_argument("--jobs", "-j", type=int, default=1, help="worker processes per backend")
    made.add_argument("--verbose", "-v", action="store_true", help="print every trial")
    return made


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    quiet(args.verbose)
    outcomes = campaigns(args.backends.split(","), args.trial or seeds(args.seed, args.trials), args.jobs,
                         args.verbose)
    print(summary(outcomes))
    return 0 if all(o.ok for o in outcomes) else 1


if __name__ == "__main__":
    sys.exit(main())
