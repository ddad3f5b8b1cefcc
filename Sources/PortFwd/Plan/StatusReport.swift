import Foundation

/// What `status` shows: each planned forward beside the counters the kernel holds for it.
public struct StatusReport: Codable, Sendable {
    public struct Row: Codable, Sendable {
        public let guest: String
        public let family: String
        public let spec: String
        public let sources: [String]
        public let target: String
        public let packets: UInt64?
        public let bytes: UInt64?
    }

    public let installed: Bool
    public let forwards: [Row]

    public init(plan: Plan, counters: [EndpointCounter]?) {
        installed = counters != nil
        forwards = plan.entries.map { e in
            // Counters live per guest endpoint; find the element whose range covers this forward.
            let counter = counters?.first { c in
                c.address == e.guestAddress.description && c.proto == e.proto.rawValue &&
                    (try? PortRange.parse(Substring(c.ports)))?.contains(e.guestPorts) == true
            }
            let target = e.family == .ipv6 ? "[\(e.guestAddress)]:\(e.guestPorts)" : "\(e.guestAddress):\(e.guestPorts)"
            let anySource = e.sources == [Network.any(e.family)]
            return Row(guest: e.guest.value, family: e.family.rawValue, spec: e.forward.spec.description,
                       sources: anySource ? [] : e.sources.map(\.description), target: target,
                       packets: counter?.packets, bytes: counter?.bytes)
        }
    }

    public var table: String {
        var lines = [["GUEST", "SPEC", "TARGET", "SOURCES", "PACKETS", "BYTES"]]
        for r in forwards {
            lines.append([r.guest, r.spec, r.target, r.sources.isEmpty ? "any" : r.sources.joined(separator: ","),
                          r.packets.map(String.init) ?? "-", r.bytes.map(String.init) ?? "-"])
        }
        let widths = (0..<6).map { i in lines.map { $0[i].count }.max()! }
        var text = installed ? "" : "table inet libvirt_portfwd is not installed\n"
        for line in lines {
            text += zip(line, widths).map { $0.0.padding(toLength: $0.1, withPad: " ", startingAt: 0) }
                .joined(separator: "  ").trimmingTrailingSpaces() + "\n"
        }
        return text
    }
}

extension String {
    func trimmingTrailingSpaces() -> String {
        var s = self
        while s.last == " " { s.removeLast() }
        return s
    }
}
