#!/usr/bin/env python3
"""Checks the model zoo (models/zoo.json): every checkpoint's SHA-256, and its score on a test
crop, measured by its task program, against the figure recorded when it was committed.

    python3 tools/check_zoo.py --bin BUILD/examples --data-dir ../shared/data --work-dir DIR

A model's check runs `check.program` with `check.args` ("{models}" stands for the models folder,
for a model that is not its task's zoo row, checked through --weights) and reads `check.row`.

Standard library only. Exit status 0 when every model passes, 1 when one does not (each failure
is named), 2 for a bad command line or a malformed zoo.json.
"""
import argparse
import csv
import hashlib
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def read_score(results_csv, row, image, metric, group=""):
    with open(results_csv, newline="") as f:
        for r in csv.DictReader(f):
            if r["method"] == row and r["image"] == image and r.get("group", "") == group:
                return float(r[metric])
    raise KeyError("%s has no row (%r, %r, group %r)" % (results_csv, row, image, group))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bin", required=True, help="folder of the task programs (BUILD/examples)")
    ap.add_argument("--data-dir", required=True, help="the shared data folder")
    ap.add_argument("--work-dir", required=True, help="where the programs write their outputs")
    ap.add_argument("--zoo", default=os.path.join(ROOT, "models", "zoo.json"))
    args = ap.parse_args()
    if not os.path.isdir(args.data_dir):
        print("check_zoo: the data folder %s is missing" % args.data_dir, file=sys.stderr)
        return 1
    try:
        with open(args.zoo) as f:
            zoo = json.load(f)
        models = zoo["models"]
    except (OSError, ValueError, KeyError) as e:
        print("check_zoo: cannot read %s: %s" % (args.zoo, e), file=sys.stderr)
        return 2
    if not models:
        print("check_zoo: %s lists no model" % args.zoo, file=sys.stderr)
        return 1
    failures = []
    models_dir = os.path.dirname(os.path.abspath(args.zoo))
    for m in models:
        name = m["name"]
        path = os.path.join(models_dir, m["file"])
        if not os.path.isfile(path):
            failures.append("%s: %s is missing" % (name, path))
            continue
        digest = sha256(path)
        if digest != m["sha256"]:
            failures.append("%s: sha256 %s, zoo.json records %s" % (name, digest, m["sha256"]))
            continue
        check = m["check"]
        out = os.path.join(args.work_dir, name)
        # "{models}" in an argument is the models folder (a model checked by --weights, not as the zoo row)
        cmd = [os.path.join(args.bin, check["program"])] + [a.replace("{models}", models_dir) for a in check["args"]] + [
            "--data-dir", args.data_dir, "--output-dir", out, "--quiet"]
        run = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        if run.returncode != 0:
            failures.append("%s: %s exited with %d:\n%s" % (name, " ".join(cmd), run.returncode, run.stdout[-2000:]))
            continue
        got = read_score(os.path.join(out, "results.csv"), check["row"], check["image"], check["metric"],
                         check.get("group", ""))
        want, tol = float(check["value"]), float(check["tolerance"])
        ok = abs(got - want) <= tol
        print("%s: sha256 ok; %s %s on %s: %.4f, recorded %.4f (tolerance %g) %s" % (
            name, check["row"], check["metric"], check["image"], got, want, tol, "ok" if ok else "FAILED"))
        if not ok:
            failures.append("%s: %s %.4f differs from the recorded %.4f by more than %g" % (
                name, check["metric"], got, want, tol))
        for bound in check.get("better_than", []):  # e.g. the zoo model must beat bicubic on the crop
            other = read_score(os.path.join(out, "results.csv"), bound, check["image"], check["metric"],
                               check.get("group", ""))
            lower = check.get("lower_is_better", False)
            if not ((got < other) if lower else (got > other)):
                failures.append("%s: %s %.4f is not better than %s's %.4f" % (name, check["metric"], got, bound, other))
    for f in failures:
        print("check_zoo: FAILED: " + f, file=sys.stderr)
    print("%d passed, %d failed" % (len(models) - len({f.split(':')[0] for f in failures}), len({f.split(':')[0] for f in failures})))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
