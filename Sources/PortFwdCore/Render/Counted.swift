/// The guest endpoints that carry traffic counters: guest address, protocol and a merged port
/// range. Two forwards may lead to the same guest port (8080:80 and 8081:80); an interval set
/// cannot hold overlapping elements, so their ranges are merged and they share one counter.
public struct Counted: Hashable, Sendable {
    public let guest: GuestName
    public let address: IPAddress
    public let proto: Proto
    public let ports: PortRange

    public var endpoint: Endpoint { Endpoint(address: address, proto: proto, ports: ports) }

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

/// A guest endpoint that carries a counter: guest address, protocol and port range, as the
/// count sets key it.
public struct Endpoint: Hashable, Sendable, CustomStringConvertible {
    public let address: IPAddress
    public let proto: Proto
    public let ports: PortRange

    public init(address: IPAddress, proto: Proto, ports: PortRange) {
        self.address = address
        self.proto = proto
        self.ports = ports
    }

    /// `192.168.122.10 . tcp . 80`, as the count sets write it.
    public var description: String { "\(address) . \(proto.rawValue) . \(ports)" }
}

/// What the kernel counted for one endpoint, both directions together.
public struct Counts: Hashable, Sendable {
    public var packets: UInt64
    public var bytes: UInt64

    public init(packets: UInt64, bytes: UInt64) {
        self.packets = packets
        self.bytes = bytes
    }

    public static func + (a: Counts, b: Counts) -> Counts { Counts(packets: a.packets &+ b.packets, bytes: a.bytes &+ b.bytes) }
}

/// The counters a backend holds, by endpoint.
public typealias Counters = [Endpoint: Counts]

extension Counters {
    /// The counter of the endpoint that covers these guest ports (two forwards to one guest
    /// port share one).
    public func covering(_ address: IPAddress, _ proto: Proto, _ ports: PortRange) -> Counts? {
        if let exact = self[Endpoint(address: address, proto: proto, ports: ports)] { return exact }
        return first { $0.key.address == address && $0.key.proto == proto && $0.key.ports.contains(ports) }?.value
    }
}
