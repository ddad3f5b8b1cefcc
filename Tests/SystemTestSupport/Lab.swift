import Foundation
import PortFwdSystem
import Testing

/// A throwaway network for end-to-end tests, made of namespaces:
///
///     client1 (198.51.100.2, 2001:db8::2) ──┐
///                                           host ── virbr0 (192.168.122.1, fd00:122::1) ── guest1 (.10, ::10)
///     client2 (203.0.113.2) ────────────────┘                                        └─ guest2 (.11, ::11)
///
/// The host namespace plays the libvirt host: virbr0 stands in for libvirt's. Every namespace and every
/// process it starts is removed in `close()`; processes are ended by PID.
public final class Lab {
    public let id: String
    public let host: String
    public let client1: String
    public let client2: String
    public let guest1: String
    public let guest2: String
    public let dir: String
    private var pids: [Int32] = []
    /// Appended to every tool invocation (backend flavour, say).
    public var toolArguments = ""

    public static let hostOutside4 = "198.51.100.1"
    public static let hostOutside6 = "2001:db8::1"
    public static let hostClient2Side = "203.0.113.1"

    public init() throws {
        id = "pf" + String(UInt32.random(in: 0..<UInt32.max), radix: 16)
        host = "\(id)-h"
        client1 = "\(id)-c1"
        client2 = "\(id)-c2"
        guest1 = "\(id)-g1"
        guest2 = "\(id)-g2"
        dir = NSTemporaryDirectory() + id
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        do { try build() } catch {
            close()
            throw error
        }
    }

    private func build() throws {
        for ns in [host, client1, client2, guest1, guest2] {
            try Shell.run("ip netns add \(ns) && ip -n \(ns) link set lo up")
        }
        try Shell.run("""
            set -e
            ip netns exec \(host) sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1
            # Like a libvirt host without br_netfilter: bridged frames skip netfilter, so a
            # guest's reply to a neighbour never meets conntrack and hairpin needs masquerade.
            if [ -e /proc/sys/net/bridge/bridge-nf-call-iptables ]; then
                ip netns exec \(host) sysctl -qw net.bridge.bridge-nf-call-iptables=0 net.bridge.bridge-nf-call-ip6tables=0
            fi
            ip link add c1 netns \(host) type veth peer name eth0 netns \(client1)
            ip -n \(host) addr add 198.51.100.1/24 dev c1
            ip -n \(host) addr add 2001:db8::1/64 dev c1 nodad
            ip -n \(host) link set c1 up
            ip -n \(client1) addr add 198.51.100.2/24 dev eth0
            ip -n \(client1) addr add 2001:db8::2/64 dev eth0 nodad
            ip -n \(client1) link set eth0 up
            ip link add c2 netns \(host) type veth peer name eth0 netns \(client2)
            ip -n \(host) addr add 203.0.113.1/24 dev c2
            ip -n \(host) link set c2 up
            ip -n \(client2) addr add 203.0.113.2/24 dev eth0
            ip -n \(client2) link set eth0 up
            ip -n \(client2) route add default via 203.0.113.1
            ip -n \(host) link add virbr0 type bridge
            ip -n \(host) addr add 192.168.122.1/24 dev virbr0
            ip -n \(host) addr add fd00:122::1/64 dev virbr0 nodad
            ip -n \(host) link set virbr0 up
            """)
        for (ns, port, last) in [(guest1, "g1", "10"), (guest2, "g2", "11")] {
            try Shell.run("""
                set -e
                ip link add \(port) netns \(host) type veth peer name eth0 netns \(ns)
                ip -n \(host) link set \(port) master virbr0 up
                ip -n \(ns) addr add 192.168.122.\(last)/24 dev eth0
                ip -n \(ns) addr add fd00:122::\(last)/64 dev eth0 nodad
                ip -n \(ns) link set eth0 up
                ip -n \(ns) route add default via 192.168.122.1
                ip -n \(ns) -6 route add default via fd00:122::1
                """)
        }
    }

    public func close() {
        for pid in pids { kill(pid, SIGKILL) }
        for pid in pids { _ = Spawn.wait(pid) }
        pids.removeAll()
        for ns in [host, client1, client2, guest1, guest2] {
            _ = Shell.capture("ip netns del \(ns) 2>/dev/null")
        }
        try? FileManager.default.removeItem(atPath: dir)
    }

    // MARK: - running things

    @discardableResult
    public func run(_ ns: String, _ command: String) throws -> String {
        try Shell.run("ip netns exec \(ns) sh -c \(Lab.quote(command))")
    }

    public func capture(_ ns: String, _ command: String) -> Shell.Result {
        Shell.capture("ip netns exec \(ns) sh -c \(Lab.quote(command))")
    }

    /// Runs the tool under test in the host namespace.
    @discardableResult
    public func tool(_ args: String, config: String? = nil) throws -> String {
        try run(host, toolCommand(args, config: config))
    }

    public func toolResult(_ args: String, config: String? = nil) -> Shell.Result {
        capture(host, toolCommand(args, config: config))
    }

    private func toolCommand(_ args: String, config: String?) -> String {
        var command = "\(Paths.binary) \(args)\(toolArguments) --state-dir \(dir)/state"
        if let config { command += " --config \(config)" }
        return command
    }

    /// Writes a config file into the lab's directory and returns its path.
    public func config(_ text: String, name: String = "portfwd.toml") throws -> String {
        let path = "\(dir)/\(name)"
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    /// Starts a socat server in a namespace that answers every connection with `reply`.
    public func serve(_ ns: String, proto: String = "tcp", port: Int, reply: String) throws {
        let listen = proto == "udp"
            ? "UDP6-RECVFROM:\(port),ipv6only=0,fork,reuseaddr" : "\(proto.uppercased())6-LISTEN:\(port),ipv6only=0,fork,reuseaddr"
        // `ip netns exec` execs socat in place, so this PID is the server's.
        pids.append(try Spawn.start(["/usr/sbin/ip", "netns", "exec", ns, "socat", listen, "SYSTEM:echo \(reply)"]))
        let probe = proto == "udp" ? "ss -Hlun" : "ss -Hltn"
        for _ in 0..<50 {
            if (try? run(ns, probe))?.contains(":\(port) ") == true { return }
            usleep(50_000)
        }
        throw Shell.Failure(command: "socat \(listen)", status: -1, output: "server did not start listening")
    }

    /// Connects from a namespace and returns what came back, or nil if nothing did.
    public func connect(_ ns: String, proto: String = "tcp", to address: String, port: Int) -> String? {
        let target = address.contains(":") ? "[\(address)]" : address
        let command = proto == "udp"
            ? "echo ping | timeout 5 socat -T2 - UDP:\(target):\(port)"
            : "timeout 5 socat -T2 - TCP:\(target):\(port),connect-timeout=2 </dev/null"
        let result = capture(ns, command)
        let text = result.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        return text.isEmpty ? nil : text
    }

    /// Connects, retrying briefly: the first connection can race a just-applied ruleset or ND.
    public func reach(_ ns: String, proto: String = "tcp", to address: String, port: Int, attempts: Int = 5) -> String? {
        for _ in 0..<attempts {
            if let reply = connect(ns, proto: proto, to: address, port: port) { return reply }
            usleep(200_000)
        }
        return nil
    }

    public static func quote(_ s: String) -> String { "'" + s.replacingOccurrences(of: "'", with: "'\\''") + "'" }
}
