#!/usr/bin/env python3
"""Checks relations between the scores of a task program's results.csv (a ctest helper).

    check_scores.py RESULTS.csv --metric RMSE --images Art Books \
        --require "Classical MCSC <= Bicubic * 0.9" --require "Classical MCSC < Guided filter"

Each --require is "METHOD OP METHOD [* FACTOR | + OFFSET]" with OP one of == < <= > >= (== compares the CSV's printed values exactly); it must hold
on every --images entry (and in --group, e.g. x4, when the CSV has groups). `--also CSV LABEL`
adds the rows of another run, their methods named "LABEL: METHOD" (to compare two runs).
Prints every comparison; exits 1 when one fails or a row is missing, 2 on bad arguments.
"""
import argparse
import csv
import re
import sys

OPS = {"==": lambda a, b: a == b, "<": lambda a, b: a < b, "<=": lambda a, b: a <= b, ">": lambda a, b: a > b, ">=": lambda a, b: a >= b}
RULE = re.compile(r"^\s*(.+?)\s*(<=|>=|==|<|>)\s*(.+?)\s*(?:([*+])\s*([-+0-9.eE]+))?\s*$")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("csv")
    parser.add_argument("--metric", required=True)
    parser.add_argument("--images", nargs="+", required=True)
    parser.add_argument("--group", default="")
    parser.add_argument("--require", action="append", required=True)
    parser.add_argument("--also", nargs=2, action="append", default=[], metavar=("CSV", "LABEL"))
    args = parser.parse_args()
    rules = []
    for text in args.require:
        m = RULE.match(text)
        if not m:
            parser.error(f"--require '{text}' is not 'METHOD OP METHOD [* FACTOR | + OFFSET]'")
        rules.append(m.groups())
    scores = {}
    for path, label in [(args.csv, "")] + [tuple(a) for a in args.also]:
        try:
            with open(path, newline="") as f:
                rows = list(csv.DictReader(f))
        except OSError as e:
            print(f"check_scores: cannot read '{path}': {e.strerror}", file=sys.stderr)
            return 1
        if rows and args.metric not in rows[0]:
            print(f"check_scores: '{path}' has no column '{args.metric}'", file=sys.stderr)
            return 1
        prefix = f"{label}: " if label else ""
        scores.update({(r.get("group", ""), prefix + r["method"], r["image"]): r[args.metric] for r in rows})
    failed = False
    for image in args.images:
        for left, op, right, kind, amount in rules:
            values = []
            for method in (left, right):
                value = scores.get((args.group, method, image))
                if value in (None, ""):
                    print(f"check_scores: no {args.metric} of '{method}' on '{image}' (group '{args.group}')",
                          file=sys.stderr)
                    return 1
                values.append(float(value))
            bound = values[1] if kind is None else (values[1] * float(amount) if kind == "*" else values[1] + float(amount))
            ok = OPS[op](values[0], bound)
            failed |= not ok
            tail = "" if kind is None else f" {kind} {amount}"
            print(f"{'ok  ' if ok else 'FAIL'} {image}: {left} {values[0]:.4f} {op} {right} {values[1]:.4f}{tail} = {bound:.4f}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
