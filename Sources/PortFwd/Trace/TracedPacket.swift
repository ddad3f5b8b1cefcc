import PortFwdCore
import PortFwdSystem

/// One traced packet's way through the kernel's chains, step by step, and where it ended.
public struct TracedPacket: Sendable {
    public struct Step: Sendable {
        /// `prerouting`, `forward`, ...: the hook of the base chain it was in.
        public let hook: String
        /// `table inet filter chain forward`.
        public let place: String
        /// `rule handle 7 (ip saddr 203.0.113.5 drop)`, `policy`, `return`.
        public let rule: String
        public let decision: TraceEvent.Decision?
        public let kind: TraceEvent.Kind
    }

    public enum End: Sendable {
        /// It left the host (the trace table's last chain on postrouting saw it).
        case left
        /// A rule or a policy dropped or rejected it, at this step.
        case dropped(Step)
        /// Queued to, or stolen by, something else.
        case taken(Step)
        /// It went silent: dropped where nftables does not trace (iptables-legacy, routing).
        case vanished(after: Step?)
    }

    public let id: UInt32
    /// `tcp 198.51.100.2:40812 > 198.51.100.1:8080, in c1`.
    public let summary: String
    public var steps: [Step] = []
    public var end: End?
    /// When the last event came, for `vanished`.
    public var lastSeen: Double

    /// The verdict of the packet's way, one line: what the admin looks for.
    public var verdict: String {
        switch end {
        case .left: return "delivered: it passed every chain and left the host"
        case .dropped(let step): return "dropped by \(step.place): \(step.rule)"
        case .taken(let step): return "taken by \(step.place): \(step.rule) (\(step.decision.map(String.init(describing:)) ?? "?"))"
        case .vanished(let step):
            return "lost after \(step.map { "\($0.place): \($0.rule)" } ?? "its first step"): dropped where nftables does not trace "
                + "(an iptables-legacy chain, or no route)"
        case nil: return "still on its way"
        }
    }
}

/// Reads a packet's headers as a trace event carries them: addresses and ports, for the
/// first line of a traced packet.
enum PacketHeader {
    static func summary(_ event: TraceEvent, interfaces: (UInt32) -> String?) -> String {
        let n = event.network, t = event.transport
        var proto = "?", source = "?", destination = "?", ports: (Int, Int)? = nil
        if let version = n.first.map({ $0 >> 4 }) {
            if version == 4, n.count >= 20 {
                source = IPAddress(family: .ipv4, bytes: Array(n[12..<16])).description
                destination = IPAddress(family: .ipv4, bytes: Array(n[16..<20])).description
                proto = name(Int(n[9]))
            } else if version == 6, n.count >= 40 {
                source = IPAddress(family: .ipv6, bytes: Array(n[8..<24])).description
                destination = IPAddress(family: .ipv6, bytes: Array(n[24..<40])).description
                proto = name(Int(n[6]))
            }
        }
        if t.count >= 4, ["tcp", "udp", "sctp"].contains(proto) {
            ports = (Int(t[0]) << 8 | Int(t[1]), Int(t[2]) << 8 | Int(t[3]))
        }
        var text = proto
        if let ports {
            let a = source.contains(":") ? "[\(source)]" : source, b = destination.contains(":") ? "[\(destination)]" : destination
            text += " \(a):\(ports.0) > \(b):\(ports.1)"
        } else {
            text += " \(source) > \(destination)"
        }
        if proto == "tcp", t.count >= 14 {
            let flags = t[13]
            let named = [(0x02, "SYN"), (0x10, "ACK"), (0x01, "FIN"), (0x04, "RST")].filter { Int(flags) & $0.0 != 0 }.map(\.1)
            if !named.isEmpty { text += " [\(named.joined(separator: ","))]" }
        }
        if let iif = event.iif, let name = interfaces(iif) { text += ", in \(name)" }
        return text
    }

    static func name(_ number: Int) -> String {
        Proto.allCases.first { $0.number == number }?.rawValue ?? (number == 1 ? "icmp" : number == 58 ? "icmpv6" : "proto \(number)")
    }
}
