#!/usr/bin/python3
"""bench/floors' data as RESULTS.md text: our medians beside each floor's, CPU and wall, and the
goals of the second lean step. report.py includes it; alone it prints the section:

    floors_report.py DIR"""
import json, statistics, sys

def load(data):
    def runs(path):
        with open(path) as f:
            return {name: {k: statistics.median(v) for k, v in r.items()} for name, r in json.load(f).items()}
    apply = {n: runs(f"{data}/floors-apply-{n}.json") for n in (1, 100)}
    noop = runs(f"{data}/floors-noop.json")
    samples = {}
    for line in open(f"{data}/floors-rss.txt"):
        which, rss, anon = line.split()
        samples.setdefault(which, []).append((int(rss), int(anon)))
    rss = {w: (statistics.median(r for r, _ in s), statistics.median(a for _, a in s), len(s)) for w, s in samples.items()}
    rounds = len(json.load(open(f"{data}/floors-noop.json"))["ours"]["cpu_ms"])
    return apply, noop, rss, rounds

def section(data):
    """(lines of the section, rows for the Targets table)."""
    apply, noop, rss, rounds = load(data)
    before = "before" in noop
    head = "| measure | ours | floor | ours ÷ floor |" + (" before | before ÷ floor |" if before else "")
    rule = "|---|---|---|---|" + ("---|---|" if before else "")
    def row(label, ours, floor, was=None, unit="ms"):
        cells = f"| {label} | {ours:.2f} {unit} | {floor:.2f} {unit} | {ours / floor:.2f}× |"
        return cells + (f" {was:.2f} {unit} | {was / floor:.2f}× |" if before else "")
    lines = ["## Lean, second step: against the floors", "",
             "bench/floors, in this run: each measure beside its floor, one run of each per round, the order reversed "
             "every other round. CPU is user+sys of the child (wait4), wall is the run's elapsed time; medians of "
             f"{rounds} rounds. "
             "Floors: `nft -f` of the same ruleset (each in its own network namespace, entered with nsenter); a static FoundationEssentials hello-world; "
             "library-floor (bench/hello), a static FoundationEssentials program that loads libnftables "
             "with dlopen, reads the network XML, lists the same table, gives its heap back, and sleeps"
             + (". Before is the binary named in the run, in the same rounds." if before else "."), "", head, rule]
    for n in (1, 100):
        a = apply[n]
        lines.append(row(f"apply, N = {n}, CPU", a["ours"]["cpu_ms"], a["nft-f"]["cpu_ms"], a.get("before", {}).get("cpu_ms")))
        lines.append(row(f"apply, N = {n}, wall", a["ours"]["wall_ms"], a["nft-f"]["wall_ms"], a.get("before", {}).get("wall_ms")))
    lines.append(row("no-op hook, CPU", noop["ours"]["cpu_ms"], noop["hello"]["cpu_ms"], noop.get("before", {}).get("cpu_ms")))
    lines.append(row("no-op hook, wall", noop["ours"]["wall_ms"], noop["hello"]["wall_ms"], noop.get("before", {}).get("wall_ms")))
    mib = lambda kib: kib / 1024
    lines.append(row(f"`watch` idle RSS, 100 forwards (median of {rss['ours'][2]})", mib(rss["ours"][0]), mib(rss["floor"][0]),
                     mib(rss["before"][0]) if before else None, "MiB"))
    lines.append(row("of which anonymous", mib(rss["ours"][1]), mib(rss["floor"][1]), mib(rss["before"][1]) if before else None, "MiB"))
    try:
        lines += ["", "Link: " + open(f"{data}/symbol-order.txt").read().strip()]
    except FileNotFoundError:
        pass
    lines += ["", "The hello-world is the floor for the hook's own start, not for its wall time under `sh -c` as in the hooks "
              "table above: here every command is started directly.", ""]
    check = lambda ok: "met" if ok else "**missed**"
    t = []
    got = rss["ours"][0]
    t.append(f"| `watch` idle RSS ≤ 12 MiB (floors run) | {mib(got):.1f} MiB | {check(got <= 12 * 1024)} |")
    got = rss["ours"][0] / rss["floor"][0]
    t.append(f"| `watch` idle RSS ≤ 1.05 × library floor | {got:.2f}× | {check(got <= 1.05)} |")
    got = noop["ours"]["wall_ms"] / noop["hello"]["wall_ms"]
    t.append(f"| no-op hook ≤ 0.85 × static FoundationEssentials hello (wall) | {got:.2f}× | {check(got <= 0.85)} |")
    for n in (1, 100):
        got = apply[n]["ours"]["cpu_ms"] / apply[n]["nft-f"]["cpu_ms"]
        t.append(f"| apply CPU ≤ 1.4 × `nft -f` at N = {n} | {got:.2f}× | {check(got <= 1.4)} |")
        got = apply[n]["ours"]["wall_ms"] / apply[n]["nft-f"]["wall_ms"]
        t.append(f"| apply wall ≤ 1.15 × `nft -f` at N = {n} (floors run) | {got:.2f}× | {check(got <= 1.15)} |")
    return lines, t

if __name__ == "__main__":
    lines, targets = section(sys.argv[1])
    print("\n".join(lines + ["| target | measured | |", "|---|---|---|"] + targets))
