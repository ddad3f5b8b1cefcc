#!/usr/bin/python3
"""Runs commands interleaved, one run of each per round, the order reversed every other round
(ours, floor; floor, ours; ...), so the machine's drift hits them alike. Per run it records the
wall time and the CPU time (user + sys of the child and whatever it waited for, from wait4):
on small nft transactions wall time jumps in steps of an RCU grace period, CPU does not.

    interleave.py OUT.json ROUNDS [--prepare CMD] NAME CMD [NAME CMD ...]

CMD is split like a shell word list and run without a shell; a trailing `< FILE` feeds FILE on
stdin. --prepare runs before every run, untimed. One untimed warm-up run of each command first.
OUT.json: {NAME: {"wall_ms": [...], "cpu_ms": [...]}}; a command that fails stops the bench."""
import json, os, shlex, subprocess, sys, time

def parse(text):
    words = shlex.split(text)
    if len(words) >= 2 and words[-2] == "<":
        return words[:-2], words[-1]
    return words, None

def run(argv, stdin):
    source = open(stdin, "rb") if stdin else subprocess.DEVNULL
    start = time.perf_counter()
    child = subprocess.Popen(argv, stdin=source, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - start
    child.returncode = os.waitstatus_to_exitcode(status)
    if stdin:
        source.close()
    if child.returncode != 0:
        sys.exit(f"interleave: {shlex.join(argv)} exited with {child.returncode}")
    return wall * 1000, (usage.ru_utime + usage.ru_stime) * 1000

def main(args):
    out, rounds, args = args[0], int(args[1]), args[2:]
    prepare = None
    if args and args[0] == "--prepare":
        prepare, args = shlex.split(args[1]), args[2:]
    commands = [(args[i], *parse(args[i + 1])) for i in range(0, len(args), 2)]
    results = {name: {"wall_ms": [], "cpu_ms": []} for name, _, _ in commands}
    for r in range(rounds + 1):
        for name, argv, stdin in (commands if r % 2 else commands[::-1]):
            if prepare:
                subprocess.run(prepare, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
            wall, cpu = run(argv, stdin)
            if r > 0:
                results[name]["wall_ms"].append(round(wall, 3))
                results[name]["cpu_ms"].append(round(cpu, 3))
    json.dump(results, open(out, "w"))

main(sys.argv[1:])
