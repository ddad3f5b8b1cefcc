#!/usr/bin/python3
"""The watch service's figures, in the data plane's namespaces (host H, client C, guest G with
a server on port 80 of 192.168.122.10 and .11): how long from `nft flush ruleset` to a working forward, from a
written lease to a working forward, and what the service costs while idle.

    service.py BIN H C DIR REPS IDLE_SECONDS  ->  DIR/service.txt, one "name value" per line

Runs from C's namespace (connections start there); changes to the host run through
`ip netns exec H`. Every wait polls with a deadline; the figures are medians."""
import json, os, socket, statistics, subprocess, sys, time

BIN, H, C, D, REPS, IDLE = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]), int(sys.argv[6])
TREE, STATE = f"{D}/svc-tree", f"{D}/svc-state"
ARGS = ["--config", f"{D}/svc.toml", "--state-dir", STATE, "--libvirt-root", TREE]
MAC = "52:54:00:00:00:77"
out = open(f"{D}/service.txt", "w")

def host(*argv, stdin=None):
    return subprocess.run(["ip", "netns", "exec", H, *argv], input=stdin, capture_output=True, text=True, check=True).stdout

def works(port, timeout=0.05):
    try:
        s = socket.create_connection(("198.51.100.1", port), timeout=timeout)
        s.close()
        return True
    except OSError:
        return False

def wait(condition, what, seconds=20):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if condition():
            return time.monotonic()
        time.sleep(0.002)
    sys.exit(f"service bench: {what} did not happen within {seconds} s")

def lease(address):
    # As libvirt's lease helper writes it: a new file renamed over the old one.
    path = f"{TREE}/var/lib/libvirt/dnsmasq/virbr0.status"
    with open(path + ".new", "w") as f:
        json.dump([{"ip-address": address, "mac-address": MAC, "hostname": "g", "expiry-time": int(time.time()) + 3600}], f)
    os.rename(path + ".new", path)

def dnat():
    return host("nft", "list", "map", "inet", "libvirt_portfwd", "dnat4_any")

os.makedirs(f"{TREE}/etc/libvirt/qemu/networks", exist_ok=True)
os.makedirs(f"{TREE}/var/lib/libvirt/dnsmasq", exist_ok=True)
os.makedirs(f"{TREE}/run/libvirt/qemu", exist_ok=True)
open(f"{TREE}/etc/libvirt/qemu/networks/default.xml", "w").write(
    "<network><name>default</name><forward mode='nat'/><bridge name='virbr0'/><ip address='192.168.122.1' netmask='255.255.255.0'/></network>\n")
open(f"{D}/svc.toml", "w").write('[[guest]]\nname = "web1"\naddress = "192.168.122.10"\nforwards = ["8080:80"]\n'
                                   '[[guest]]\nname = "dyn"\nforwards = ["8081:80"]\n')
host(BIN, *ARGS, "apply", "--all")
log = open(f"{D}/svc-watch.log", "w")
watch = subprocess.Popen(["ip", "netns", "exec", H, BIN, *ARGS, "watch", "--log", "stderr"], stderr=log)
try:
    wait(lambda: "watch start:" in open(f"{D}/svc-watch.log").read(), "the service's start")
    # Heal: nft flush ruleset -> the forward answers again.
    heal = []
    for _ in range(REPS):
        wait(lambda: works(8080), "a working forward before the flush")
        host("nft", "flush", "ruleset")
        t0 = time.monotonic()
        heal.append((wait(lambda: works(8080), "the repair") - t0) * 1000)
    out.write(f"heal_ms {statistics.median(heal):.1f}\n")
    # A guest on dynamic DHCP starts pending; its lease, written as libvirt writes it, makes it
    # work. A new domain each rep (the same name, MAC and forward, a new UUID), as a guest's
    # restart would be: the service bounds how often it follows one guest's moves, and the
    # bench measures a prompt follow, not that bound.
    # The guest holds .99 (it answers the host's ARP request there) but takes no connection on
    # it, and serves on .11. A lease counts once the host has seen the guest use the address,
    # at its MAC, and the guest answers for it.
    host("ip", "neigh", "replace", "192.168.122.99", "lladdr", MAC, "dev", "virbr0", "nud", "stale")
    host("ip", "neigh", "replace", "192.168.122.11", "lladdr", MAC, "dev", "virbr0", "nud", "stale")
    leases, xml = [], None
    for rep in range(REPS):
        if xml:
            os.remove(f"{TREE}/run/libvirt/qemu/dyn.xml")
            host(BIN, *ARGS, "hook", "qemu", "--", "dyn", "stopped", "end", "-", stdin=xml)
        xml = (f"<domain type='qemu'><name>dyn</name><uuid>00000000-0000-4000-8000-{rep:012d}</uuid><devices>"
               f"<interface type='network'><mac address='{MAC}'/><source network='default' bridge='virbr0'/></interface></devices></domain>")
        lease("192.168.122.99")
        host(BIN, *ARGS, "hook", "qemu", "--", "dyn", "start", "begin", "-", stdin=xml)
        open(f"{TREE}/run/libvirt/qemu/dyn.xml", "w").write(f"<domstatus state='running'>{xml}</domstatus>\n")
        wait(lambda: "192.168.122.99" in dnat(), "the forward to an address that takes no connection")
        # .11, not web1's .10: an address belongs to one guest (a lease of a configured
        # guest's address is refused), and the guest namespace answers on both.
        lease("192.168.122.11")
        t0 = time.monotonic()
        leases.append((wait(lambda: works(8081), "the forward to the leased address") - t0) * 1000)
    out.write(f"lease_ms {statistics.median(leases):.1f}\n")
    # Idle: nothing changes; memory, CPU and wake-ups over IDLE seconds.
    time.sleep(1)
    def stat():
        fields = open(f"/proc/{watch.pid}/stat").read().rsplit(")", 1)[1].split()
        status = dict(l.split(":", 1) for l in open(f"/proc/{watch.pid}/status").read().splitlines() if ":" in l)
        kib = lambda key: int(status[key].split()[0])
        return int(fields[11]) + int(fields[12]), int(status["voluntary_ctxt_switches"]), (kib("VmRSS"), kib("RssAnon"), kib("RssFile"))
    cpu0, wake0, _ = stat()
    time.sleep(IDLE)
    cpu1, wake1, (rss, anon, file) = stat()
    ticks = os.sysconf("SC_CLK_TCK")
    out.write(f"idle_seconds {IDLE}\nidle_cpu_ms {(cpu1 - cpu0) * 1000 / ticks:.0f}\nidle_wakeups {wake1 - wake0}\n"
              f"idle_rss_kib {rss}\nidle_rss_anon_kib {anon}\nidle_rss_file_kib {file}\n")
finally:
    watch.terminate()
    watch.wait(10)
