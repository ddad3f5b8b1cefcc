/// Which of the network's current leases is a guest's. dnsmasq keys a lease by the DHCP client
/// identity before the MAC, and the MAC in a DHCP request is whatever its sender wrote, so one
/// DHCPREQUEST from another guest, carrying this guest's MAC and its own client identity, makes
/// a second lease "of" this MAC. A lease is therefore the guest's only when it is of the client
/// the guest has been using:
/// - once a guest follows a lease, its record keeps that lease's client identity, and only a
///   lease of that identity moves it;
/// - a guest with no identity yet takes the lease of the one client that holds current leases
///   for its MAC; of several clients, the one whose address the guest answers for at its MAC;
///   otherwise a dispute, and the guest waits.
public enum LeaseAttribution {
    public enum Choice: Sendable, Equatable {
        /// The guest's lease: its address, and the client identity it is of ("" for none).
        case lease(IPAddress, client: String)
        /// No current lease of this family for the guest's MACs.
        case none
        /// The guest's client holds no current lease any more, while other clients do.
        case gone
        /// Several clients hold current leases for its MAC and nothing says which is its own.
        case disputed(String)
    }

    /// The choice for one family, looking at the guest's interfaces in order.
    /// - Parameters:
    ///   - known: the client identity the guest has been using for this family, if any.
    ///   - current: the address the guest has now: of several clients, the one whose lease
    ///     holds it is the guest's (records from before identities were kept).
    public static func choose(_ family: Family, interfaces: [RunningGuest.Interface], known: String?, current: IPAddress?,
                              surroundings: Surroundings) -> Choice {
        for iface in interfaces {
            guard let bridge = iface.bridge ?? surroundings.network(of: iface)?.bridge else { continue }
            let leases = surroundings.leases.leases(bridge: bridge, mac: iface.mac).filter { $0.address.family == family }
            guard let newest = leases.first else { continue }
            if let known {
                guard let mine = leases.first(where: { $0.client == known }) else { return .gone }
                return .lease(mine.address, client: known)
            }
            let clients = Set(leases.map(\.client))
            if clients.count == 1 { return .lease(newest.address, client: newest.client) }
            if let current, let held = leases.first(where: { $0.address == current }) { return .lease(held.address, client: held.client) }
            // Of several, the one lease whose address the guest answers for, at its own MAC:
            // a forger's second lease cannot hold a restarting guest in a dispute, unless the
            // forger also forges frames at this guest's MAC (which clean-traffic stops).
            // All asked at once: a forger can hold hundreds of leases at one MAC.
            let asked = leases.flatMap { surroundings.entries($0.address, at: [iface.mac], on: [bridge]) }
            let answered = Set(surroundings.answers(asked).map(\.address))
            let used = leases.filter { answered.contains($0.address) }
            if Set(used.map(\.client)).count == 1, let mine = used.first { return .lease(mine.address, client: mine.client) }
            let named = leases.prefix(3).map { "\($0.address) (client \($0.client.isEmpty ? "none" : LogText.line($0.client)))" }
            return .disputed("\(clients.count) DHCP clients hold current leases for \(iface.mac) on \(bridge): \(named.joined(separator: ", ")); "
                + "which one is the guest's is unknown until only one remains")
        }
        return .none
    }
}
