#!/usr/bin/python3
"""Writes the benchmark inputs for N forwards spread over N/10 guests (at least one):
n{N}.toml (config), n{N}.list (the classic hook's input), and for the hook benchmarks
hook.toml, g{i}.xml, extra.xml and plain.xml. The last guest lives at 192.168.122.10, the data
plane's guest namespace, so the last forward (host port 10000+N-1) is the one measured there:
for the iptables backend that is the worst case, the last rule in its chain."""
import sys, uuid

def guests(n):
    count = max(1, n // 10)
    out = []
    for g in range(count):
        last = g == count - 1
        addr = "192.168.122.10" if last else f"10.200.{g // 250}.{g % 250 + 1}"
        ports = [10000 + g * 10 + i for i in range(10) if g * 10 + i < n]
        out.append((f"g{g}", addr, ports))
    return out

def toml(gs, extra=""):
    lines = ['[settings]', extra]
    for name, addr, ports in gs:
        lines += ['[[guest]]', f'name = "{name}"', f'address = "{addr}"',
                  'forwards = [' + ", ".join(f'"{p}:80"' for p in ports) + ']']
    return "\n".join(lines) + "\n"

def xml(name, u):
    return (f"<domain type='qemu'><name>{name}</name><uuid>{u}</uuid><devices><interface type='network'>"
            f"<mac address='52:54:00:00:00:99'/><source network='default'/></interface></devices></domain>\n")

out, sizes = sys.argv[1], [int(a) for a in sys.argv[2:]]
for n in sizes:
    gs = guests(n)
    open(f"{out}/n{n}.toml", "w").write(toml(gs))
    open(f"{out}/n{n}.list", "w").write("".join(f"tcp {p} {a} 80\n" for _, a, ps in gs for p in ps))
# Hook benchmarks: 10 guests with 100 forwards running, one more starting; and a guest with none.
gs = guests(100)
hook = toml(gs) + '[[guest]]\nname = "extra"\naddress = "10.201.0.1"\nforwards = ["20000:80"]\n'
open(f"{out}/hook.toml", "w").write(hook)
for i, (name, _, _) in enumerate(gs):
    open(f"{out}/{name}.xml", "w").write(xml(name, uuid.UUID(int=i + 1)))
open(f"{out}/extra.xml", "w").write(xml("extra", uuid.UUID(int=1000)))
open(f"{out}/plain.xml", "w").write(xml("plain", uuid.UUID(int=2000)))
