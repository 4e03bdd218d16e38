#!/usr/bin/env python3
"""Format scripts/bench.sh's results.tsv as the table it prints.

Input rows (tab separated):
  "#", SID, TITLE                                                        a scenario heading
  SID, STATE, TOOL, MEAN_S, SD_S, MIN_S, RUNS, RSS_KB, REQUESTS, NOTE, CMD   one timed series
MEAN_S etc. are "-" for a series that failed.  The first regfs row of a scenario and state is
the reference: ratio = anchor mean / regfs mean (> 1: regfs is faster).
"""

import sys


def ms(v):
    if v in ("-", "", None):
        return "-"
    x = float(v) * 1000
    return "%.1f" % x if x < 1000 else "%.0f" % x


def mib(kb):
    try:
        return "%.1f" % (int(kb) / 1024)
    except ValueError:
        return "?"


def main():
    titles, order, rows = {}, [], {}
    with open(sys.argv[1]) as f:
        for line in f:
            parts = line.rstrip("\n").split("\t")
            if parts[0] == "#":
                if parts[1] not in titles:
                    order.append(parts[1])
                titles[parts[1]] = parts[2]
                continue
            sid, state = parts[0], parts[1]
            rows.setdefault((sid, state), []).append(parts)

    head = ("state", "tool", "mean ms", "± sd", "min ms", "runs", "ratio", "peak RSS MiB", "reqs")
    widths = (5, 44, 8, 7, 8, 4, 7, 12, 5)
    fmt = "  ".join("%%-%ds" % w if i < 2 else "%%%ds" % w for i, w in enumerate(widths))
    print("ratio = anchor mean / regfs mean for the same scenario and state (> 1: regfs is faster).")
    print("peak RSS: regfs = VmHWM of the regfs daemon; anchors = max RSS of their biggest process.")
    print("reqs = requests the registry logged for one run (cold: fresh mount and cache).")
    notes = []
    for sid in order:
        print()
        print("%s. %s" % (sid, titles[sid]))
        print(fmt % head)
        for state in ("cold", "warm"):
            series = rows.get((sid, state), [])
            ref = next((r for r in series if r[2].startswith("regfs")), None)
            ref_mean = float(ref[3]) if ref and ref[3] != "-" else None
            for r in series:
                tool, mean, sd, mn, n, rss, reqs, note = r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[9]
                if r is ref:
                    ratio = "1 (ref)"
                elif mean != "-" and ref_mean:
                    ratio = "%.2f" % (float(mean) / ref_mean)
                else:
                    ratio = "-"
                print(fmt % (state, tool[:widths[1]], ms(mean), ms(sd), ms(mn), n, ratio, mib(rss), reqs))
                if note:
                    notes.append("%s %s %s: %s" % (sid, state, tool, note))
    if notes:
        print()
        print("notes:")
        for n in notes:
            print("  " + n)


if __name__ == "__main__":
    main()
