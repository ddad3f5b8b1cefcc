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
        let metadata = (config.settings.metadata ? (domain.metadata ?? RunningGuest.Metadata()) : RunningGuest.Metadata())
            .stamped(Int64(now.timeIntervalSince1970))
        if (entry?.forwards ?? []).isEmpty && metadata.forwards.isEmpty { return (nil, warnings) }
        var addresses: [Family: IPAddress] = [:]
        for family in Family.allCases {
            if let a = entry?.address(family) ?? metadata.address(family) { addresses[family] = a }
        }
        var source = AddressSource.explicit
        if addresses.isEmpty {
            if let found = AddressDiscovery(surroundings: surroundings()).discover(domain.interfaces) {
                addresses[.ipv4] = found.address4
                addresses[.ipv6] = found.address6
                source = found.source
            } else {
                // Waits for its lease, whether or not the service runs now: a guest always starts.
                source = .pending
            }
        }
        let guest = RunningGuest(uuid: domain.uuid, name: domain.name, interfaces: domain.interfaces, address4: addresses[.ipv4],
                                 address6: addresses[.ipv6], addressSource: source, metadata: metadata, since: Int64(now.timeIntervalSince1970))
        return (guest, warnings)
    }

    /// A pending or leased guest at the address its lease says now; nil when nothing changed.
    public func followLease(_ guest: RunningGuest, surroundings: Surroundings) -> RunningGuest? {
        guard guest.addressSource == .pending || guest.addressSource == .lease else { return nil }
        let found = AddressDiscovery(surroundings: surroundings).discover(guest.interfaces)
        let (a4, a6, source) = found.map { ($0.address4, $0.address6, $0.source) } ?? (nil, nil, .pending)
        if a4 == guest.address4 && a6 == guest.address6 && source == guest.addressSource { return nil }
        // An expired lease keeps the last address until another shows up: the guest most
        // likely still holds it, and dnsmasq renews it on the guest's next request. Unless
        // dnsmasq has leased it to another MAC since: then it is that guest's.
        if found == nil && guest.addressSource == .lease {
            let macs = Set(guest.interfaces.map(\.mac))
            let taken = [guest.address4, guest.address6].compactMap { $0 }.contains { a in
                surroundings.leases.byAddress[a]?.contains { !macs.contains($0.lease.mac) } == true
            }
            if !taken { return nil }
        }
        return guest.readdressed(a4, a6, source: source)
    }
}
