#!/usr/bin/env python3
"""Fuzz loop for tools/convert_cunet_pth.py (standard library only): mutates official CU-Net
checkpoints (the legacy and the zip format) and converts each mutant in-process. The rule is the
C++ readers' (tests/fuzz): a damaged input may only be refused with the converter's own clear error
(ConversionError, or OSError for the file system), which its command line prints as one line with
exit status 2; any other exception is a traceback for the user, and fails this run, with the input
saved for a regression. So does a mutant that makes the converter allocate more than the
memory limit (--memory-limit, default 2 GiB, set as the process' address-space limit): the
converter refuses such a file cleanly only because the limit is there, so a MemoryError anywhere
in the error's context counts as a failure.

  fuzz_convert.py [--seconds 60] [--seed 1] [--crash-dir DIR] [SEED.pth ...]
  fuzz_convert.py --replay DIR      each file of DIR once, unmutated (the committed regressions,
                                    tests/fuzz/corpus/convert: a ctest)

Seeds default to ../shared/weights/cunet/depth_ks9.pth (legacy format) and multi_focus.pth
(zip). Mutations: byte flips, random bytes inserted or deleted, truncation, and, for the zip
format, the same applied to data.pkl (or to one tensor record) inside a rebuilt archive, so that
the unpickler and the record checks are reached past the archive's CRCs. Exit status 0 when every
mutant was converted or refused cleanly, 1 otherwise, 2 for a bad command line."""
import argparse
import io
import os
import random
import resource
import sys
import tempfile
import time
import traceback
import zipfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import convert_cunet_pth as conv  # noqa: E402

SHARED = os.path.join(os.path.dirname(HERE), "..", "shared", "weights", "cunet")


def mutate_bytes(rng, data, limit=None):
    """One to four random edits of data (limited to its first `limit` bytes, if given)."""
    b = bytearray(data)
    span = len(b) if limit is None else min(len(b), limit)
    for _ in range(rng.randint(1, 4)):
        kind = rng.randrange(5)
        at = rng.randrange(max(span, 1))
        if kind == 0 and b:  # flip bits
            b[at % len(b)] ^= 1 << rng.randrange(8)
        elif kind == 1 and b:  # an interesting byte (pickle opcodes, lengths)
            b[at % len(b)] = rng.choice([0, 1, 0x7F, 0x80, 0xFF, ord("("), ord("."), ord("q"), ord("X"), ord("J")])
        elif kind == 2:  # insert random bytes
            b[at:at] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 8)))
        elif kind == 3 and b:  # delete a run
            del b[at:at + rng.randint(1, 16)]
        else:  # truncate
            del b[at:]
    return bytes(b)


def mutate_zip(rng, data):
    """The archive rebuilt with one member mutated (data.pkl mostly), or a member dropped."""
    src = zipfile.ZipFile(io.BytesIO(data))
    names = src.namelist()
    pkl = [n for n in names if n.endswith("/data.pkl")]
    target = pkl[0] if pkl and rng.random() < 0.8 else rng.choice(names)
    drop = rng.random() < 0.05
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as dst:
        for n in names:
            member = src.read(n)
            if n == target:
                if drop:
                    continue
                member = mutate_bytes(rng, member)
            dst.writestr(n, member)
    return out.getvalue()


def ran_out_of_memory(error):
    """Whether a MemoryError is in the chain of causes and contexts of error."""
    seen = set()
    while error is not None and id(error) not in seen:
        if isinstance(error, MemoryError):
            return True
        seen.add(id(error))
        error = error.__cause__ or error.__context__
    return False


def save(crash_dir, n, name, mutant):
    path = os.path.join(crash_dir, "crash-%d-%s" % (n, os.path.basename(name)))
    with open(path, "wb") as f:
        f.write(mutant)
    return path


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--memory-limit", type=float, default=2.0, help="GiB of address space for this process")
    ap.add_argument("--crash-dir", default=None, help="where failing inputs are saved (default: a temporary folder)")
    ap.add_argument("--replay", metavar="DIR", help="convert each file of DIR once, unmutated, by the same rule")
    ap.add_argument("seeds", nargs="*")
    args = ap.parse_args(argv)
    if args.seconds <= 0:
        ap.error("--seconds must be > 0")
    limit = int(args.memory_limit * (1 << 30))
    hard = resource.getrlimit(resource.RLIMIT_AS)[1]
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    seeds = args.seeds or [os.path.join(SHARED, "depth_ks9.pth"), os.path.join(SHARED, "multi_focus.pth")]
    originals = []
    for s in [] if args.replay else seeds:
        try:
            with open(s, "rb") as f:
                originals.append((s, f.read()))
        except OSError as e:
            print("fuzz_convert.py: cannot read seed '%s': %s" % (s, e.strerror or e), file=sys.stderr)
            return 1
    if args.replay:
        try:
            originals = [(os.path.join(args.replay, f), None) for f in sorted(os.listdir(args.replay))]
        except OSError as e:
            print("fuzz_convert.py: cannot list --replay '%s': %s" % (args.replay, e.strerror or e), file=sys.stderr)
            return 1
        if not originals:
            print("fuzz_convert.py: --replay '%s' is empty" % args.replay, file=sys.stderr)
            return 1
    rng = random.Random(args.seed)
    work = tempfile.mkdtemp(prefix="mcsc_fuzz_convert_")
    crash_dir = args.crash_dir or work
    os.makedirs(crash_dir, exist_ok=True)
    counts = {"converted": 0, "refused": 0}
    failures = 0
    start = time.monotonic()
    n = 0
    while (n < len(originals)) if args.replay else (time.monotonic() - start < args.seconds):
        name, data = originals[n % len(originals)]
        n += 1
        if args.replay:
            with open(name, "rb") as f:
                mutant = f.read()
        elif zipfile.is_zipfile(io.BytesIO(data)) and rng.random() < 0.8:
            mutant = mutate_zip(rng, data)
        else:  # the pickles of the legacy format sit in the first few kilobytes
            mutant = mutate_bytes(rng, data, limit=65536 if rng.random() < 0.9 else None)
        path = os.path.join(work, "input.pth")
        with open(path, "wb") as f:
            f.write(mutant)
        try:
            conv.convert(path, os.path.join(work, "output.mcsc"))
            counts["converted"] += 1
            if args.replay:  # a committed regression input is a damaged file: it must be refused
                failures += 1
                print("fuzz_convert.py: %s was converted, not refused" % name, file=sys.stderr)
        except (conv.ConversionError, OSError) as e:
            if not ran_out_of_memory(e):
                counts["refused"] += 1
                continue
            failures += 1
            saved = save(crash_dir, n, name, mutant)
            print("fuzz_convert.py: mutant %d of %s needed more than %.1f GiB (input saved as %s): %s"
                  % (n, name, args.memory_limit, saved, e), file=sys.stderr)
        except Exception:  # a traceback the user would see
            failures += 1
            saved = save(crash_dir, n, name, mutant)
            print("fuzz_convert.py: mutant %d of %s raised (input saved as %s):" % (n, name, saved), file=sys.stderr)
            traceback.print_exc()
        if failures >= 5:
            break
    seconds = time.monotonic() - start
    print("fuzz_convert.py: %d mutants in %.0f s (%.0f per second): %d converted, %d refused with a clear error, "
          "%d failures (a traceback or more memory than the limit)" % (n, seconds, n / seconds, counts["converted"], counts["refused"], failures))
    for f in ("input.pth", "output.mcsc"):
        try:
            os.remove(os.path.join(work, f))
        except OSError:
            pass
    if crash_dir != work:
        try:
            os.rmdir(work)
        except OSError:
            pass
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
