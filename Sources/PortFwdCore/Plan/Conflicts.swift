/// Finds forwards that claim the same host port. Two claims clash when protocol and ports
/// overlap and the addresses do: equal bound addresses, or either one on every address.
/// A clash would make one DNAT silently shadow the other, so it is an error naming both guests.
public enum Conflicts {
    private struct Claim {
        let guest: GuestName
        let spec: PortSpec
    }

    public static func find(in guests: [Guest]) -> [String] {
        var byProto: [Proto: [Claim]] = [:]
        for guest in guests {
            for forward in guest.forwards {
                byProto[forward.spec.proto, default: []].append(Claim(guest: guest.name, spec: forward.spec))
            }
        }
        var problems: [String] = []
        for proto in Proto.allCases {
            // Sweep by lower port; only claims still open at this port can overlap it.
            let claims = (byProto[proto] ?? []).enumerated().sorted {
                ($0.element.spec.hostPorts.lower, $0.offset) < ($1.element.spec.hostPorts.lower, $1.offset)
            }.map(\.element)
            var open: [Claim] = []
            for claim in claims {
                open.removeAll { $0.spec.hostPorts.upper < claim.spec.hostPorts.lower }
                for other in open where sameAddress(other.spec.hostAddress, claim.spec.hostAddress) {
                    problems.append(message(first: other, second: claim))
                }
                open.append(claim)
            }
        }
        return problems
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
