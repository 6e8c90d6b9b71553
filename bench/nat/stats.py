#!/usr/bin/env python3
"""stats.py RESULTS_DIR SCENARIO... — the table of bench/nat/run.sh.

For each scenario, reads RESULTS_DIR/<scenario>.idle.ping, .load.ping
(`ping -n` output) and .iperf.<user>.json (iperf3 -J, one per uploading
user) and prints one markdown row: idle and loaded ping percentiles, the
delay added under load (p50/p99 minus the idle p50), loss, each user's
upload goodput as the server counted it, and Jain's fairness index over
the uploading users: J = (sum x)^2 / (n * sum x^2), 1 = perfectly even.
Standard library only."""
import glob
import json
import os
import re
import sys


def percentile(values, p):
    """Linear interpolation between closest ranks (numpy's default)."""
    if not values:
        return float("nan")
    v = sorted(values)
    k = (len(v) - 1) * p / 100.0
    lo = int(k)
    hi = min(lo + 1, len(v) - 1)
    return v[lo] + (v[hi] - v[lo]) * (k - lo)


def read_ping(path):
    rtts, sent = [], 0
    try:
        with open(path, errors="replace") as f:
            for line in f:
                m = re.search(r"time=([\d.]+) ms", line)
                if m:
                    rtts.append(float(m.group(1)))
                m = re.search(r"(\d+) packets transmitted", line)
                if m:
                    sent = int(m.group(1))
    except OSError:
        pass
    loss = 100.0 * (sent - len(rtts)) / sent if sent else float("nan")
    return rtts, loss


def read_iperf(path):
    """(source address, streams, goodput in Mbit/s) or None."""
    try:
        with open(path) as f:
            j = json.load(f)
        src = j["start"]["connected"][0]["local_host"]
        return src, len(j["start"]["connected"]), j["end"]["sum_received"]["bits_per_second"] / 1e6
    except (OSError, ValueError, KeyError, IndexError):
        return None


def jain(xs):
    if not xs or sum(x * x for x in xs) == 0:
        return float("nan")
    return sum(xs) ** 2 / (len(xs) * sum(x * x for x in xs))


def pooled_pings(d, sc, kind):
    """All RTTs of every round of a scenario; loss over all of them."""
    rtts, sent = [], 0
    for path in sorted(glob.glob(os.path.join(d, f"{sc}.r*.{kind}.ping"))):
        r, loss = read_ping(path)
        n = round(len(r) / (1 - loss / 100)) if loss == loss and loss < 100 else 0
        rtts += r
        sent += n
    return rtts, (100.0 * (sent - len(rtts)) / sent if sent else float("nan"))


def main():
    if len(sys.argv) < 3:
        print(__doc__)
        return 2
    d = sys.argv[1]
    print("| scenario | idle p50 | load p50 | load p99 | added p50 / p99 | loss | heavy user's own ping p50 / p99 "
          "| upload per user, Mbit/s (streams) | total | Jain (min) |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for sc in sys.argv[2:]:
        idle, _ = pooled_pings(d, sc, "idle")
        load, loss = pooled_pings(d, sc, "load")
        own, _ = pooled_pings(d, sc, "own")
        rounds = sorted({os.path.basename(p).split(".")[1]
                         for p in glob.glob(os.path.join(d, f"{sc}.r*.iperf.*.json"))})
        per_user, jains = {}, []
        for r in rounds:
            users = [u for u in (read_iperf(p) for p in
                                 sorted(glob.glob(os.path.join(d, f"{sc}.{r}.iperf.*.json")))) if u]
            for src, streams, mbit in users:
                per_user.setdefault((src, streams), []).append(mbit)
            jains.append(jain([u[2] for u in users]))
        base = percentile(idle, 50)
        p50, p99 = percentile(load, 50), percentile(load, 99)
        means = [(k, sum(v) / len(v)) for k, v in sorted(per_user.items())]
        per = ", ".join(f".{k[0].rsplit('.', 1)[-1]} {m:.2f} ({k[1]})" for k, m in means)
        jmean = sum(jains) / len(jains) if jains else float("nan")
        print(f"| {sc} | {base:.1f} ms | {p50:.1f} ms | {p99:.1f} ms | {p50 - base:+.1f} / {p99 - base:+.1f} ms "
              f"| {loss:.1f}% | {percentile(own, 50):.1f} / {percentile(own, 99):.1f} ms | {per} "
              f"| {sum(m for _, m in means):.2f} | {jmean:.3f} ({min(jains) if jains else float('nan'):.3f}) |")
    print(f"\n{len(rounds) if sys.argv[2:] else 0} round(s); pings pooled over rounds, "
          "throughput averaged, Jain per round: mean (min)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
