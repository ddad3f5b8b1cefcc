/// The temporary table `libvirt-portfwd trace` installs: it sets `meta nftrace` on the next new
/// connections to some forwards (and on their guests' first answers), before any other chain
/// sees them, and marks where a packet leaves the host. Harmless by construction: it only
/// sets the trace flag, at most `rate` packets a second, and only until `deadline` (seconds
/// since the epoch, checked by the kernel per packet), so even a trace killed with SIGKILL
/// traces nothing once its time is up.
public struct TraceTable: Sendable {
    public static let name = "libvirt_portfwd_trace"
    public static let table = "inet \(name)"
    /// The chain whose policy event says a traced packet left the host.
    public static let leaving = "leaving"

    public let entries: [PlanEntry]
    public let deadline: Int
    public let rate: Int

    public init(entries: [PlanEntry], deadline: Int, rate: Int = 20) {
        self.entries = entries
        self.deadline = deadline
        self.rate = rate
    }

    /// Replaces any trace table with this one, in one transaction.
    public var transaction: NftTransaction {
        var rules: [String] = []
        for family in Family.allCases {
            let inFamily = entries.filter { $0.family == family }
            for proto in Proto.allCases {
                let those = inFamily.filter { $0.proto == proto }
                guard !those.isEmpty else { continue }
                // New connections only, for TCP: a SYN; an answer: SYN-ACK. Other protocols have
                // no such flag here: each packet, within the rate.
                let new = proto == .tcp ? "tcp flags & (syn | ack) == syn " : ""
                let answer = proto == .tcp ? "tcp flags & (syn | ack) == syn | ack " : ""
                let head = "meta time < \(deadline) meta nfproto \(family.rawValue) meta l4proto \(proto.rawValue) "
                let tail = "limit rate \(rate)/second meta nftrace set 1"
                let any = those.filter { $0.hostAddress == nil }.map { "\($0.hostPorts)" }
                if !any.isEmpty {
                    rules.append(head + "fib daddr type local th dport { \(Set(any).sorted().joined(separator: ", ")) } \(new)\(tail)")
                }
                let bound = those.compactMap { e in e.hostAddress.map { "\($0) . \(e.hostPorts)" } }
                if !bound.isEmpty {
                    rules.append(head + "\(family.nft) daddr . th dport { \(Set(bound).sorted().joined(separator: ", ")) } \(new)\(tail)")
                }
                let guests = Set(those.map { "\($0.guestAddress) . \($0.guestPorts)" }).sorted()
                rules.append(head + "\(family.nft) saddr . th sport { \(guests.joined(separator: ", ")) } \(answer)\(tail)")
            }
        }
        let statements = rules.map { NftRule($0) }
        let table = NftTable(chains: [
            NftChain(name: "prerouting", hook: NftHook(type: "filter", hook: "prerouting", priority: NftHook.first), rules: statements),
            NftChain(name: "output", hook: NftHook(type: "filter", hook: "output", priority: NftHook.first), rules: statements),
            NftChain(name: Self.leaving, hook: NftHook(type: "filter", hook: "postrouting", priority: NftHook.last), rules: []),
        ])
        return NftTransaction([.addTable(.trace, nil), .delete(.table(.trace)), .addTable(.trace, table)])
    }
}
