/// Why a rule may or may not touch our traffic.
public enum Doubt: String, Sendable, Hashable, Comparable {
    /// It depends on the client: its address, its port, the interface it comes in on. An
    /// admin's rule that blocks some clients is such a rule, and stays the admin's to decide.
    case client
    /// It depends on which bridge the guest sits behind, which is not known here.
    case topology
    /// It depends on something this tool does not read (a match extension, a named set, a
    /// packet mark).
    case unknown

    public static func < (a: Doubt, b: Doubt) -> Bool { a.rawValue < b.rawValue }
}

/// Whether a rule or condition touches a flow: surely not, surely, or perhaps, and why.
public enum Match: Sendable, Hashable {
    case no
    case yes
    case perhaps(Set<Doubt>)

    static func and(_ a: Match, _ b: Match) -> Match {
        switch (a, b) {
        case (.no, _), (_, .no): return .no
        case (.yes, let x), (let x, .yes): return x
        case let (.perhaps(x), .perhaps(y)): return .perhaps(x.union(y))
        }
    }

    var negated: Match {
        switch self {
        case .no: return .yes
        case .yes: return .no
        case .perhaps: return self
        }
    }

    /// The doubts of a match that is not `.no`.
    var doubts: Set<Doubt> { if case .perhaps(let d) = self { return d }; return [] }
}

extension FilterRule {
    /// Whether every condition holds for the flow.
    public func match(_ flow: Flow) -> Match {
        conditions.reduce(Match.yes) { result, condition in
            result == .no ? .no : Match.and(result, condition.match(flow))
        }
    }
}

extension Condition {
    public func match(_ flow: Flow) -> Match {
        let m = plain(flow)
        return negated ? m.negated : m
    }

    private func plain(_ flow: Flow) -> Match {
        switch kind {
        case .inInterface(let names): return Self.link(flow.iif, names)
        case .outInterface(let names): return Self.link(flow.oif, names)
        case .address(let side, let networks):
            return Self.address(side == .source ? flow.source : flow.destination, networks.filter { $0.family == flow.family })
        case .proto(let numbers): return numbers.contains(flow.proto.number) ? .yes : .no
        case .port(let side, let ranges):
            guard let ours = side == .source ? flow.sourcePorts : flow.destinationPorts else {
                // The client's port: any.
                return ranges.contains { $0.lower == 0 && $0.upper == 65535 } ? .yes : .perhaps([.client])
            }
            if ranges.contains(where: { $0.contains(ours) }) { return .yes }
            return ranges.contains(where: { $0.overlaps(ours) }) ? .perhaps([.client]) : .no
        case .ctState(let states):
            return states.contains(flow.state.rawValue) ? .yes : .no
        case .ctStatus(let statuses):
            // Ours are DNATed; new ones not yet confirmed nor answered.
            var result = Match.no
            for status in statuses {
                switch status {
                case "dnat": return .yes
                case "confirmed", "seen-reply": if flow.state == .established { return .yes }
                case "assured": if flow.state == .established { result = .perhaps([.unknown]) }
                case "snat", "expected", "dying": break
                default: result = .perhaps([.unknown])
                }
            }
            return result
        case let .ctMark(mask, value):
            let ours = UInt32(flow.mark.value)
            // Bits of ours are set; every other bit is someone else's business.
            if value & mask & ours != mask & ours { return .no }
            return mask & ~ours == 0 ? .yes : .perhaps([.unknown])
        case .ctDirection(let direction): return direction == flow.direction ? .yes : .no
        case .family(let family): return family == flow.family ? .yes : .no
        case .unknown: return .perhaps([.unknown])
        }
    }

    private static func link(_ link: Flow.Link, _ names: [Name]) -> Match {
        switch link {
        case .named(let name): return names.contains { $0.matches(name) } ? .yes : .no
        case .outside(let bridges):
            // The client's interface is none of libvirt's bridges: a name that could only be
            // one of them cannot be it; any other name may or may not be the client's.
            let possible = names.filter { n in n.prefix || !bridges.contains(n.text) }
            return possible.isEmpty ? .no : .perhaps([.client])
        case .unknown: return .perhaps([.topology])
        }
    }

    private static func address(_ address: Flow.Address, _ networks: [Network]) -> Match {
        switch address {
        case .host(let a): return networks.contains { $0.contains(a) } ? .yes : .no
        case .clients(let clients):
            if clients.allSatisfy({ c in networks.contains { $0.covers(c) } }) { return .yes }
            if clients.allSatisfy({ c in !networks.contains { $0.overlaps(c) } }) { return .no }
            return .perhaps([.client])
        }
    }
}

extension Network {
    /// Every address of `other` is in this network.
    func covers(_ other: Network) -> Bool { family == other.family && prefix <= other.prefix && contains(other.address) }
    /// They share an address.
    func overlaps(_ other: Network) -> Bool { covers(other) || other.covers(self) }
}
