import Foundation
import PortFwdCore
import PortFwdSystem

/// Turns a domain (the XML on a hook's stdin, or libvirt's status file of a running domain)
/// into a running guest: its forwards from the config and its metadata, checked against the
/// policy, and its addresses. nil when the guest has no forwards at all.
public struct DomainIntake: Sendable {
    public let config: Config
    public let libvirt: LibvirtFiles
    public let now: Date
    /// Whether the watch service runs, which can install a guest's forwards once its DHCP
    /// lease appears: without it, a guest with no address to be found may not start.
    public let serviceRunning: Bool

    public init(config: Config, libvirt: LibvirtFiles, now: Date = Date(), serviceRunning: Bool = false) {
        self.config = config
        self.libvirt = libvirt
        self.now = now
        self.serviceRunning = serviceRunning
    }

    /// - Parameters:
    ///   - others: the other running guests, whose addresses metadata may not claim.
    ///   - strict: refuse what the policy refuses (a starting guest); otherwise record it and
    ///     let the plan leave it out with a warning (a guest already running).
    public func take(_ domain: Domain, others: [RunningGuest], strict: Bool) throws(PortFwdError) -> RunningGuest? {
        let entry = config.guest(named: domain.name, uuid: domain.uuid)
        let metadata = config.settings.metadata ? (domain.metadata ?? RunningGuest.Metadata()) : RunningGuest.Metadata()
        if (entry?.forwards ?? []).isEmpty && metadata.forwards.isEmpty { return nil }
        let policy = MetadataPolicy(settings: config.settings)
        let networks = libvirt.networks()
        if strict {
            let problems = policy.forwardProblems(metadata.forwards, guest: domain.name)
            if !problems.isEmpty { throw PortFwdError(.policy, lines: problems) }
        }
        var addresses: [Family: IPAddress] = [:]
        var hostAddresses: Set<IPAddress>?
        for family in Family.allCases {
            if let configured = entry?.address(family) { addresses[family] = configured; continue }
            guard let claimed = metadata.address(family) else { continue }
            if strict {
                if hostAddresses == nil { hostAddresses = HostAddresses.current() }
                let claims = others.filter { $0.uuid != domain.uuid }.flatMap { g in Family.allCases.compactMap { f in g.address(f).map { (g.name, $0) } } }
                if let problem = policy.addressProblem(claimed, guest: domain.name, interfaces: domain.interfaces,
                                                       surroundings: Surroundings(networks: networks, hostAddresses: hostAddresses!),
                                                       others: claims.map { (name: $0.0, address: $0.1) }) {
                    throw PortFwdError(.policy, problem)
                }
            }
            addresses[family] = claimed
        }
        var source = AddressSource.explicit
        if addresses.isEmpty {
            if let found = AddressDiscovery(libvirt: libvirt, now: now).discover(domain.interfaces, networks: networks) {
                addresses[.ipv4] = found.address4
                addresses[.ipv6] = found.address6
                source = found.source
            } else if serviceRunning || !strict {
                source = .pending
            } else {
                let macs = domain.interfaces.map(\.mac.value).joined(separator: ", ")
                throw PortFwdError(.notFound, "no address for guest \(domain.name): add address = \"...\" to its [[guest]] in the config or <address> to its metadata, "
                    + "or a static DHCP <host mac='\(domain.interfaces.first?.mac.value ?? "MAC")' ip='...'/> to its network"
                    + (macs.isEmpty ? " (it has no interface)" : " (no current lease for \(macs) either)")
                    + "; or run the libvirt-portfwd service, which installs its forwards when its DHCP lease appears")
            }
        }
        return RunningGuest(uuid: domain.uuid, name: domain.name, interfaces: domain.interfaces, address4: addresses[.ipv4],
                            address6: addresses[.ipv6], addressSource: source, metadata: metadata, since: Int64(now.timeIntervalSince1970))
    }

    /// A pending or leased guest at the address its lease says now; nil when nothing changed.
    public func followLease(_ guest: RunningGuest) -> RunningGuest? {
        guard guest.addressSource == .pending || guest.addressSource == .lease else { return nil }
        let found = AddressDiscovery(libvirt: libvirt, now: now).discover(guest.interfaces, networks: libvirt.networks())
        let (a4, a6, source) = found.map { ($0.address4, $0.address6, $0.source) } ?? (nil, nil, .pending)
        if a4 == guest.address4 && a6 == guest.address6 && source == guest.addressSource { return nil }
        // An expired lease keeps the last address until another shows up: the guest most
        // likely still holds it, and dnsmasq renews it on the guest's next request.
        if found == nil && guest.addressSource == .lease { return nil }
        return guest.readdressed(a4, a6, source: source)
    }
}
