import FoundationEssentials
#if canImport(Glibc)
import Glibc
#endif
import PortFwdCore
import PortFwdSystem

/// Turns a domain (the XML on a hook's stdin, or libvirt's status file of a running domain)
/// into a running guest: what its config entry and its metadata ask for, and where its
/// address came from. It refuses nothing: metadata is kept as asked, and every plan holds it
/// to the policy of the moment (`Resolver`), so that tightening the policy takes effect at once
/// and nothing a guest owner writes can stop the guest.
public struct DomainIntake: Sendable {
    public let config: Config
    public let now: Date

    public init(config: Config, now: Date = Date()) {
        self.config = config
        self.now = now
    }

    /// The guest to record, nil when it has no forwards at all; and lines about what in its
    /// metadata was refused.
    public func take(_ domain: Domain, surroundings: @autoclosure () -> Surroundings) -> (RunningGuest?, [String]) {
        let entry = config.guest(named: domain.name, uuid: domain.uuid)
        var warnings: [String] = []
        if let problem = domain.metadataProblem, config.settings.metadata {
            warnings.append("guest \(domain.name): its metadata is refused, so its metadata forwards are not installed: \(problem)")
        }
        var metadata = (config.settings.metadata ? (domain.metadata ?? RunningGuest.Metadata()) : RunningGuest.Metadata())
            .stamped(Int64(now.timeIntervalSince1970))
        // More forwards than the policy allows are all refused, at every plan: kept as asked,
        // thousands of them (64 client networks each) made a record larger than a record may
        // be, re-read from libvirt's status file and written again at every event, which slowed
        // every other guest's start. What is kept stays within the policy's count; raising
        // settings.metadata-max-forwards takes them in at the next apply, which reads every
        // running domain again.
        let limit = config.settings.metadataMaxForwards
        if metadata.forwards.count > limit {
            warnings.append("guest \(domain.name): metadata declares \(metadata.forwards.count) forwards, more than settings.metadata-max-forwards "
                + "(\(limit)); its metadata forwards are not installed")
            metadata = metadata.withoutForwards()
        }
        if (entry?.forwards ?? []).isEmpty && metadata.forwards.isEmpty { return (nil, warnings) }
        var addresses: [Family: IPAddress] = [:]
        for family in Family.allCases {
            if let a = entry?.address(family) ?? metadata.address(family) { addresses[family] = a }
        }
        var source = AddressSource.explicit
        var clients: [Family: String] = [:]
        if addresses.isEmpty {
            if let found = AddressDiscovery(surroundings: surroundings()).discover(domain.interfaces) {
                addresses[.ipv4] = found.address4
                addresses[.ipv6] = found.address6
                source = found.source
                clients = found.clients
            } else {
                // Waits for its lease, whether or not the service runs now: a guest always starts.
                source = .pending
            }
        }
        let guest = RunningGuest(uuid: domain.uuid, name: domain.name, interfaces: domain.interfaces, address4: addresses[.ipv4],
                                 address6: addresses[.ipv6], addressSource: source, metadata: metadata, since: Int64(now.timeIntervalSince1970),
                                 leaseClients: clients)
        return (guest, warnings)
    }

    /// A guest that runs already, as its domain says now (`fresh`), with what its record
    /// knows: the address it found (a lease is followed by `followLease`, not rediscovered),
    /// its interfaces' bridges, when each metadata forward first appeared, its start, and what
    /// the last plan gave it.
    /// - Parameter following: also follow its lease now (a hook; the service follows leases
    ///   itself, rate-bounded per guest).
    public func continuing(_ fresh: RunningGuest, from existing: RunningGuest, surroundings: @autoclosure () -> Surroundings,
                           following: Bool = true) -> RunningGuest {
        var guest = fresh
        if fresh.addressSource != .explicit && (existing.addressSource == .lease || existing.addressSource == .dhcpHost) {
            guest = fresh.readdressed(existing.address4, existing.address6, source: existing.addressSource, leaseClients: existing.leaseClients)
        }
        // libvirt saves a starting domain's status before its interfaces have their bridge:
        // what the start hook saw is not taken back by such an early file.
        let interfaces = guest.interfaces.map { i in
            guard i.bridge == nil, let known = existing.interfaces.first(where: { $0.mac == i.mac && $0.network == i.network }) else { return i }
            return known
        }
        guest = RunningGuest(uuid: guest.uuid, name: guest.name, interfaces: interfaces, address4: guest.address4, address6: guest.address6,
                             addressSource: guest.addressSource,
                             metadata: fresh.metadata.stamped(Int64(now.timeIntervalSince1970), after: existing.metadata),
                             since: existing.since, leaseClients: guest.leaseClients, holds: existing.holds)
        return following ? followLease(guest, surroundings: surroundings()) ?? guest : guest
    }

    /// A pending or leased guest at the address its own lease says now; nil when nothing changed.
    public func followLease(_ guest: RunningGuest, surroundings: Surroundings) -> RunningGuest? {
        var unseen = Set<IPAddress>()
        return followLease(guest, surroundings: surroundings, unseen: &unseen)
    }

    /// The same; `unseen` gets the new addresses a held address waits on (see below).
    public func followLease(_ guest: RunningGuest, surroundings: Surroundings, unseen: inout Set<IPAddress>) -> RunningGuest? {
        guard guest.addressSource == .pending || guest.addressSource == .lease else { return nil }
        // The addresses it holds. (Its client identity is the one whose lease was answered for
        // at its MAC: `AddressDiscovery` records no other.)
        var current: [Family: IPAddress] = [:]
        if guest.addressSource == .lease {
            for family in Family.allCases {
                if let a = guest.address(family), guest.holds.holds(a) { current[family] = a }
            }
        }
        let known = guest.addressSource == .lease ? guest.leaseClients : [:]
        let found = AddressDiscovery(surroundings: surroundings).discover(guest.interfaces, known: known, current: current)
        var (a4, a6, source, clients) = found.map { ($0.address4, $0.address6, $0.source, $0.clients) } ?? (nil, nil, .pending, [:])
        // A held address stays the guest's until the guest answers the host at its new one. A
        // DHCPREQUEST carrying the guest's MAC and client identity is anyone's to send, and
        // dnsmasq moves the lease for it: following at once let another guest's owner switch
        // this guest's forwards off, or hand them to an address of their choosing. Nor is the
        // neighbour entry dnsmasq then writes at the guest's MAC (for a request without the
        // broadcast flag) the guest's doing. A guest that really moved answers for its new
        // address, at its own MAC, and is followed then (`Surroundings.uses`). Another
        // MAC's lease of the held address changes nothing either: any guest can ask dnsmasq
        // for an address it sees free, in a request naming any MAC.
        if guest.addressSource == .lease, source == .lease {
            let macs = Set(guest.interfaces.map(\.mac))
            for (family, held) in current {
                guard let moved = family == .ipv4 ? a4 : a6, moved != held else { continue }
                let bridges = surroundings.bridges(for: moved, interfaces: guest.interfaces)
                guard !surroundings.uses(moved, at: macs, on: bridges) else { continue }
                unseen.insert(moved)
                if family == .ipv4 { a4 = held } else { a6 = held }
                clients[family] = guest.leaseClients[family]
            }
        }
        if a4 == guest.address4 && a6 == guest.address6 && source == guest.addressSource && clients == guest.leaseClients { return nil }
        // An expired lease keeps the last address until another of the guest's shows up: the
        // guest most likely still holds it, and dnsmasq renews it on the guest's next request.
        // One it does not hold yet goes when dnsmasq leases it to another MAC.
        if found == nil && guest.addressSource == .lease {
            let macs = Set(guest.interfaces.map(\.mac))
            let taken = [guest.address4, guest.address6].compactMap { $0 }.contains { a in
                surroundings.leases.byAddress[a]?.contains { !macs.contains($0.lease.mac) } == true
            }
            if !current.isEmpty || !taken { return nil }
        }
        return guest.readdressed(a4, a6, source: source, leaseClients: clients)
    }
}
