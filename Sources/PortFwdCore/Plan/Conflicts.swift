/// Finds forwards that claim the same host port. Two claims clash when protocol and ports
/// overlap and the addresses do: equal bound addresses, or either one on every address.
/// A clash would make one DNAT silently shadow the other.
public enum Conflicts {
    /// Two forwards that clash: their positions in the guests' forwards taken in order, and
    /// a line naming both guests.
    public struct Clash: Sendable {
        public let first: Int
        public let second: Int
        public let message: String
    }

    private struct Claim {
        let index: Int
        let guest: GuestName
        let spec: PortSpec
    }

    /// Every clash, one line each.
    public static func find(in guests: [Guest]) -> [String] { clashes(in: guests).map(\.message) }

    public static func clashes(in guests: [Guest]) -> [Clash] {
        var byProto: [Proto: [Claim]] = [:]
        var index = 0
        for guest in guests {
            for forward in guest.forwards {
                byProto[forward.spec.proto, default: []].append(Claim(index: index, guest: guest.name, spec: forward.spec))
                index += 1
            }
        }
        var clashes: [Clash] = []
        for proto in Proto.allCases {
            // Sweep by lower port; only claims still open at this port can overlap it.
            let claims = (byProto[proto] ?? []).sorted { ($0.spec.hostPorts.lower, $0.index) < ($1.spec.hostPorts.lower, $1.index) }
            var open: [Claim] = []
            for claim in claims {
                open.removeAll { $0.spec.hostPorts.upper < claim.spec.hostPorts.lower }
                for other in open where sameAddress(other.spec.hostAddress, claim.spec.hostAddress) {
                    // Named in an order of their own (guest, then spec), not of the plan's: the
                    // line for the same two forwards is always the same.
                    let (a, b) = (other.guest, other.spec.description) < (claim.guest, claim.spec.description) ? (other, claim) : (claim, other)
                    clashes.append(Clash(first: a.index, second: b.index, message: message(first: a, second: b)))
                }
                open.append(claim)
            }
        }
        return clashes
    }

    private static func sameAddress(_ a: IPAddress?, _ b: IPAddress?) -> Bool {
        a == nil || b == nil || a == b
    }

    private static func message(first: Claim, second: Claim) -> String {
        let a = first.spec, b = second.spec
        let lower = max(a.hostPorts.lower, b.hostPorts.lower)
        let upper = min(a.hostPorts.upper, b.hostPorts.upper)
        let ports = lower == upper ? "port \(lower)" : "ports \(lower)-\(upper)"
        let address = a.hostAddress ?? b.hostAddress
        let place = (a.hostAddress == nil && b.hostAddress == nil) ? "on every address" :
            (a.hostAddress == b.hostAddress ? "on \(address!)" : "on every address and on \(address!)")
        let who = first.guest == second.guest ? "guest \(first.guest) declares it twice" : "guests \(first.guest) and \(second.guest) both claim it"
        return "conflict: \(b.proto.rawValue) \(ports) \(place): \(who) (\(a) and \(b))"
    }
}
