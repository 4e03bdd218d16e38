#!/usr/bin/env python3
"""Format scripts/bench.sh's rows.tsv as the table of issue 10's rows B1-B5 and issue 12's B6.

Input rows (tab separated), one per row of the issue:
  ID, TITLE, TARGET, KIND, REGFS_LABEL, R_MEDIAN_S, R_MIN_S, R_RUNS, R_REQS,
  PEER_LABEL, P_MEDIAN_S, P_MIN_S, P_RUNS, P_REQS, NOTE
KIND "ratio": ratio = regfs median / peer median (below 1: regfs is faster).
KIND "speedup": the peer is the slow variant of the same command; ratio = peer / regfs.
Medians are "-" for a side whose every run failed.
"""

import sys


def ms(v):
    if v in ("-", "", None):
        return "-"
    x = float(v) * 1000
    return "%.1f" % x if x < 100 else "%.0f" % x


def main():
    rows = []
    with open(sys.argv[1]) as f:
        for line in f:
            p = line.rstrip("\n").split("\t")
            p += [""] * (15 - len(p))
            rows.append(p)
    head = ("row", "regfs", "ms", "peer", "ms", "ratio", "target", "reqs r/p")
    widths = (10, 34, 7, 34, 7, 7, 7, 9)
    fmt = "  ".join("%%-%ds" % w if i in (0, 1, 3) else "%%%ds" % w for i, w in enumerate(widths))
    print("ratio = regfs median / peer median (below 1: regfs is faster); B2': speed-up of")
    print("-P16 over -P1 (above 1: faster).  reqs = requests logged for one run, regfs/peer.")
    print()
    print(fmt % head)
    notes = []
    for (rid, title, target, kind, rl, rmed, rmin, rn, rreq, pl, pmed, pmin, pn, preq,
         note) in rows:
        ratio = "-"
        if rmed not in ("-", "") and pmed not in ("-", "") and float(rmed) > 0 and float(pmed) > 0:
            r = float(pmed) / float(rmed) if kind == "speedup" else float(rmed) / float(pmed)
            ratio = "%.2f" % r
        print(fmt % (rid, rl[:widths[1]], ms(rmed), pl[:widths[3]], ms(pmed), ratio, target,
                     "%s/%s" % (rreq, preq)))
        notes.append("%s: %s (regfs %s runs, min %s ms; peer %s runs, min %s ms)%s"
                     % (rid, title, rn, ms(rmin), pn, ms(pmin), "; " + note if note else ""))
    print()
    for n in notes:
        print("  " + n)


if __name__ == "__main__":
    main()
