#!/usr/bin/python3
"""The watch service under a long run of mixed events, compressed: what a busy host does to it
in an hour (or weeks), in SECONDS. In a namespace of its own, with a libvirt tree of files:

  - a flood of unrelated nftables commits (another program's table: every commit is announced
    to the service, which must read and dismiss it);
  - lease rewrites, as libvirt's lease helper writes them, for a guest that follows its lease;
  - guests starting and stopping (status files appearing and going);
  - `nft flush ruleset` now and then (repairs).

After a warm-up that runs every kind of event once, the service's RSS is taken; at the end, again.

    soak.py BIN SECONDS OUT [--leases N]  ->  OUT/soak.txt, one "name value" per line
    exit 1 when RSS grew by more than 2 MB (2048 KiB), or the service died, or stopped following.

Every wait polls with a deadline; events are spread over the run by a seeded generator."""
import json, os, random, subprocess, sys, time

BIN, SECONDS, OUT = sys.argv[1], float(sys.argv[2]), sys.argv[3]
LEASES = int(sys.argv[sys.argv.index("--leases") + 1]) if "--leases" in sys.argv else int(SECONDS * 200)
NS = f"pfsoak{os.getpid()}"
GUEST = f"pfsoakg{os.getpid()}"
D = f"{OUT}/soak"
TREE, STATE = f"{D}/tree", f"{D}/state"
ARGS = ["--config", f"{D}/soak.toml", "--state-dir", STATE, "--libvirt-root", TREE]
MAC = "52:54:00:00:00:77"
SEED = int(os.environ.get("SOAK_SEED", random.randrange(1 << 32)))
rng = random.Random(SEED)
os.makedirs(f"{TREE}/etc/libvirt/qemu/networks", exist_ok=True)
os.makedirs(f"{TREE}/var/lib/libvirt/dnsmasq", exist_ok=True)
os.makedirs(f"{TREE}/run/libvirt/qemu", exist_ok=True)

def ns(*argv, check=True, stdin=None):
    return subprocess.run(["ip", "netns", "exec", NS, *argv], input=stdin, capture_output=True, text=True, check=check).stdout

def domain(name, uuid, mac):
    return (f"<domain type='qemu'><name>{name}</name><uuid>{uuid}</uuid><devices><interface type='network'>"
            f"<mac address='{mac}'/><source network='default' bridge='virbr0'/></interface></devices></domain>")

def lease(address):
    path = f"{TREE}/var/lib/libvirt/dnsmasq/virbr0.status"
    with open(path + ".new", "w") as f:
        json.dump([{"ip-address": address, "mac-address": MAC, "hostname": "dyn", "expiry-time": int(time.time()) + 3600}], f)
    os.rename(path + ".new", path)

def status():
    fields = open(f"/proc/{watch.pid}/stat").read().rsplit(")", 1)[1].split()
    st = dict(l.split(":", 1) for l in open(f"/proc/{watch.pid}/status").read().splitlines() if ":" in l)
    kib = lambda key: int(st[key].split()[0])
    return int(fields[11]) + int(fields[12]), kib("VmRSS"), kib("RssAnon")

def wait(condition, what, seconds=30):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if condition():
            return
        time.sleep(0.01)
    sys.exit(f"soak: {what} did not happen within {seconds} s (seed {SEED})")

def dnat():
    return ns("nft", "list", "map", "inet", "libvirt_portfwd", "dnat4_any", check=False)

subprocess.run(["ip", "netns", "add", NS], check=True)
subprocess.run(["ip", "netns", "add", GUEST], check=True)
watch = flood = None
try:
    ns("ip", "link", "set", "lo", "up")
    ns("ip", "link", "add", "virbr0", "type", "bridge")
    ns("ip", "link", "set", "virbr0", "up")
    # The leased addresses, seen at the guest's MAC and held by its stack, a namespace behind
    # virbr0 at that MAC: a lease counts once the host has seen it used there and the guest
    # answers the host's ARP request for it.
    ns("ip", "link", "add", "vnet0", "type", "veth", "peer", "name", "eth0", "netns", GUEST)
    ns("ip", "link", "set", "vnet0", "master", "virbr0", "up")
    guest = lambda *argv: subprocess.run(["ip", "-n", GUEST, *argv], check=True)
    guest("link", "set", "eth0", "address", MAC)
    guest("link", "set", "eth0", "up")
    for last in list(range(100, 200)) + [250]:
        guest("addr", "add", f"192.168.122.{last}/32", "dev", "eth0")
        ns("ip", "neigh", "replace", f"192.168.122.{last}", "lladdr", MAC, "dev", "virbr0", "nud", "permanent")
    open(f"{TREE}/etc/libvirt/qemu/networks/default.xml", "w").write(
        "<network><name>default</name><forward mode='nat'/><bridge name='virbr0'/><ip address='192.168.122.1' netmask='255.255.255.0'/></network>\n")
    guests = [(f"g{i}", f"00000000-0000-4000-8000-0000000001{i:02d}", f"52:54:00:00:01:{i:02x}") for i in range(8)]
    config = '[[guest]]\nname = "dyn"\nforwards = ["8081:80"]\n' + "".join(
        f'[[guest]]\nname = "{n}"\naddress = "192.168.122.{20 + i}"\nforwards = ["{9000 + i}:80"]\n' for i, (n, _, _) in enumerate(guests))
    open(f"{D}/soak.toml", "w").write(config)
    ns(BIN, *ARGS, "apply")
    log = open(f"{D}/watch.log", "w")
    watch = subprocess.Popen(["ip", "netns", "exec", NS, BIN, *ARGS, "watch", "--log", "stderr"], stderr=log)
    wait(lambda: "watch start:" in open(f"{D}/watch.log").read(), "the service's start", seconds=120)
    dyn = domain("dyn", "00000000-0000-4000-8000-000000000077", MAC)
    ns(BIN, *ARGS, "hook", "qemu", "--", "dyn", "start", "begin", "-", stdin=dyn)
    open(f"{TREE}/run/libvirt/qemu/dyn.xml", "w").write(f"<domstatus state='running'>{dyn}</domstatus>\n")
    # The flood's table: another program's, announced like any commit.
    ns("nft", "add table inet flood; add set inet flood s { type ipv4_addr; }")
    flood = None if os.environ.get("SOAK_NO_FLOOD") else subprocess.Popen(["ip", "netns", "exec", NS, "sh", "-c",
                              "i=0; while :; do i=$((i+1)); nft add element inet flood s { 10.0.$((i/250%250)).$((i%250+1)) } 2>/dev/null; "
                              "nft flush set inet flood s; done"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    events = {"lease": 0, "start": 0, "stop": 0, "flush": 0}
    running = set()

    def step(kind):
        if kind == "lease":
            lease(f"192.168.122.{rng.randrange(100, 200)}")
        elif kind == "start":
            stopped = [g for g in guests if g[0] not in running]
            if not stopped:
                return
            n, u, m = rng.choice(stopped)
            open(f"{TREE}/run/libvirt/qemu/{n}.xml", "w").write(f"<domstatus state='running'>{domain(n, u, m)}</domstatus>\n")
            running.add(n)
        elif kind == "stop":
            if not running:
                return
            n = rng.choice(sorted(running))
            os.remove(f"{TREE}/run/libvirt/qemu/{n}.xml")
            running.discard(n)
        elif kind == "flush":
            ns("nft", "flush", "ruleset")
            ns("nft", "add table inet flood; add set inet flood s { type ipv4_addr; }")
        events[kind] += 1

    # Warm-up: every kind of event, and time for each to be handled.
    for kind in ["lease", "start", "stop", "flush", "start", "lease"]:
        step(kind)
        time.sleep(1.5)
    wait(lambda: "8081" in dnat(), "the forward after warm-up")
    time.sleep(2)
    cpu0, rss0, anon0 = status()
    start = time.monotonic()
    # The run: leases at a steady rate, other events now and then.
    interval = SECONDS / max(1, LEASES)
    next_other = start + rng.uniform(1, 5)
    samples, next_sample = [], start + SECONDS / 10
    while time.monotonic() - start < SECONDS:
        if time.monotonic() >= next_sample:
            samples.append(status()[1])
            next_sample += SECONDS / 10
        if not os.environ.get("SOAK_NO_LEASES"):
            step("lease")
        if time.monotonic() >= next_other:
            step(rng.choice(["start", "stop", "start", "stop", "flush"]))
            next_other = time.monotonic() + rng.uniform(0.5, 5)
        time.sleep(interval)
    if flood:
        flood.kill()
        flood.wait()
    # Quiet, then it must still follow: a last lease, and a last flush.
    time.sleep(3)
    lease("192.168.122.250")
    wait(lambda: "192.168.122.250" in dnat(), "following a lease after the run")
    ns("nft", "flush", "ruleset")
    wait(lambda: "192.168.122.250" in dnat(), "repairing a flush after the run")
    time.sleep(2)
    cpu1, rss1, anon1 = status()
    if watch.poll() is not None:
        sys.exit(f"soak: the service died (seed {SEED})")
    ticks = os.sysconf("SC_CLK_TCK")
    total = sum(events.values())
    text = open(f"{D}/watch.log").read()
    result = {
        "soak_seconds": int(SECONDS), "soak_seed": SEED, "soak_events": total, **{f"soak_{k}s": v for k, v in events.items()},
        "soak_checks": text.count("watch: guest ") + text.count("watch: repaired after"),
        "soak_repairs": text.count("watch: repaired after"),
        "soak_rss_start_kib": rss0, "soak_rss_end_kib": rss1, "soak_rss_growth_kib": rss1 - rss0,
        "soak_anon_start_kib": anon0, "soak_anon_end_kib": anon1, "soak_rss_samples_kib": ",".join(map(str, samples)),
        "soak_cpu_ms": round((cpu1 - cpu0) * 1000 / ticks), "soak_cpu_ms_per_event": round((cpu1 - cpu0) * 1000 / ticks / max(1, total), 2),
    }
    with open(f"{OUT}/soak.txt", "w") as f:
        for k, v in result.items():
            f.write(f"{k} {v}\n")
    print(" ".join(f"{k}={v}" for k, v in result.items()))
    if rss1 - rss0 > 2048:
        sys.exit(f"soak: RSS grew by {rss1 - rss0} KiB (from {rss0} to {rss1}), more than 2048 KiB (seed {SEED})")
finally:
    if flood and flood.poll() is None:
        flood.kill()
        flood.wait()
    if watch and watch.poll() is None:
        watch.terminate()
        try:
            watch.wait(10)
        except subprocess.TimeoutExpired:
            watch.kill()
    subprocess.run(["ip", "netns", "del", NS], check=False)
    subprocess.run(["ip", "netns", "del", GUEST], check=False)
