"""The optimizers' proposals on fixed problems and seeds, as JSON: a refactor that must not change what the
optimizers do is checked by comparing two trees' output byte for byte.

    python bench/proposals.py --out /tmp/new.json                      # this tree
    python bench/proposals.py --root /path/to/other/tree --out /tmp/old.json
    cmp /tmp/old.json /tmp/new.json
"""

from __future__ import annotations

import argparse
import json
import os
import sys

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def proposals(problem_names: list[str], strategies: list[str], seed: int, budget: int) -> dict[str, list]:
    from bench.problems import PROBLEMS
    from pipeline.search import make_optimizer

    out: dict[str, list] = {}
    for name in problem_names:
        problem = PROBLEMS[name]
        for strategy in strategies:
            opt = make_optimizer(strategy, problem.space, seed=seed,
                                 **({"grid_points": 3} if strategy == "grid" else {}))
            asked = []
            while len(asked) < budget:
                points = opt.ask(1)
                if not points:
                    break
                for p in points:
                    asked.append(p)
                    opt.tell(p, float(problem.objective(p)))
            out[f"{name}/{strategy}/seed{seed}"] = asked
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", default=HERE, help="the tree whose pipeline.search is run (default: this one)")
    parser.add_argument("--problems", default="branin,hartmann6,mixed7")
    parser.add_argument("--strategies", default="bayes,random,grid")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--budget", type=int, default=25)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    sys.path.insert(0, os.path.abspath(args.root))
    found = proposals(args.problems.split(","), args.strategies.split(","), args.seed, args.budget)
    with open(args.out, "w") as f:
        json.dump(found, f, sort_keys=True, default=repr)
    print(f"{sum(len(v) for v in found.values())} proposals of {len(found)} runs -> {args.out}")


if __name__ == "__main__":
    main()
