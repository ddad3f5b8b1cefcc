/// The guest endpoints that carry traffic counters: guest address, protocol and a merged port
/// range. Two forwards may lead to the same guest port (8080:80 and 8081:80); an interval set
/// cannot hold overlapping elements, so their ranges are merged and they share one counter.
public struct Counted: Hashable, Sendable {
    public let guest: GuestName
    public let address: IPAddress
    public let proto: Proto
    public let ports: PortRange

    public static func endpoints(_ entries: [PlanEntry]) -> [Counted] {
        var order: [Key] = []
        var ranges: [Key: [PortRange]] = [:]
        var owner: [Key: GuestName] = [:]
        for e in entries {
            let key = Key(address: e.guestAddress, proto: e.proto)
            if ranges[key] == nil { order.append(key); owner[key] = e.guest }
            ranges[key, default: []].append(e.guestPorts)
        }
        return order.flatMap { key in
            merge(ranges[key]!).map { Counted(guest: owner[key]!, address: key.address, proto: key.proto, ports: $0) }
        }
    }

    private struct Key: Hashable { let address: IPAddress; let proto: Proto }

    static func merge(_ ranges: [PortRange]) -> [PortRange] {
        var merged: [PortRange] = []
        for r in ranges.sorted() {
            if let last = merged.last, Int(r.lower) <= Int(last.upper) + 1 {
                merged[merged.count - 1] = PortRange(last.lower, max(last.upper, r.upper))!
            } else {
                merged.append(r)
            }
        }
        return merged
    }
}

/// What the kernel counted for one guest endpoint (both directions together).
public struct EndpointCounter: Hashable, Sendable, Codable {
    public let address: String
    public let proto: String
    public let ports: String
    public let packets: UInt64
    public let bytes: UInt64

    public init(address: String, proto: String, ports: String, packets: UInt64, bytes: UInt64) {
        self.address = address
        self.proto = proto
        self.ports = ports
        self.packets = packets
        self.bytes = bytes
    }
}
