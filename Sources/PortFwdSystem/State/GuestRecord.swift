import PortFwdCore

/// On-disk form of a `RunningGuest`: plain strings, re-parsed through the same validating
/// parsers as the config on every load, so a tampered or corrupt file cannot inject rule text
/// or name an address the config could not. Version 1 records (before interfaces and the
/// metadata's own addresses were kept) and version 2 (before holdings) still load.
struct GuestRecord: Codable {
    struct RecordForward: Codable {
        var spec: String
        var sources: [String]
        var since: Int64?
        /// For held forwards: `config` or `metadata`.
        var origin: String?
    }

    struct RecordInterface: Codable {
        var mac: String
        var network: String?
        var bridge: String?
    }

    var version = 3
    var uuid: String
    var name: String
    var interfaces: [RecordInterface]?
    var address4: String?
    var address6: String?
    var addressSource: String?
    var metadataForwards: [RecordForward]
    var metadataAddress4: String?
    var metadataAddress6: String?
    var since: Int64?
    /// Version 3: the lease's client identity per family, and what the last plan gave it.
    var leaseClients: [String: String]?
    var heldAddresses: [String]?
    var heldForwards: [RecordForward]?

    init(_ guest: RunningGuest) {
        uuid = guest.uuid.value
        name = guest.name.value
        interfaces = guest.interfaces.map { RecordInterface(mac: $0.mac.value, network: $0.network, bridge: $0.bridge) }
        address4 = guest.address4?.description
        address6 = guest.address6?.description
        addressSource = guest.addressSource.rawValue
        metadataForwards = guest.metadata.forwards.map {
            RecordForward(spec: $0.spec.description, sources: $0.sources.map(\.description), since: guest.metadata.since[$0])
        }
        metadataAddress4 = guest.metadata.address4?.description
        metadataAddress6 = guest.metadata.address6?.description
        since = guest.since
        leaseClients = guest.leaseClients.isEmpty ? nil : Dictionary(uniqueKeysWithValues: guest.leaseClients.map { ($0.key.rawValue, $0.value) })
        heldAddresses = guest.holds.addresses.values.sorted().map(\.description)
        heldForwards = guest.holds.forwards.sorted { ($0.spec.description, $0.description) < ($1.spec.description, $1.description) }
            .map { RecordForward(spec: $0.spec.description, sources: $0.sources.map(\.description), origin: $0.origin.rawValue) }
    }

    func validated() throws(PortFwdError) -> RunningGuest {
        guard (1...3).contains(version) else { throw PortFwdError(.invalidInput, "unknown record version \(version)") }
        func address(_ text: String?, _ family: Family, _ key: String) throws(PortFwdError) -> IPAddress? {
            guard let text else { return nil }
            guard let a = IPAddress(text), a.family == family else {
                throw PortFwdError(.invalidInput, "\(key) '\(text)' is not an \(family.label) address")
            }
            if let refusal = a.guestRefusal { throw PortFwdError(.invalidInput, "\(key): \(refusal)") }
            return a
        }
        func forward(_ f: RecordForward, origin: Forward.Origin) throws(PortFwdError) -> Forward {
            guard f.sources.count <= Domain.maximumSources else { throw PortFwdError(.invalidInput, "\(f.sources.count) sources on one forward") }
            var sources: [Network] = []
            for s in f.sources { sources.append(try Network.parse(s)) }
            return Forward(spec: try PortSpec.parse(f.spec), sources: sources, origin: origin)
        }
        var forwards: [Forward] = []
        var dated: [Forward: Int64] = [:]
        guard metadataForwards.count <= 4096 else { throw PortFwdError(.invalidInput, "\(metadataForwards.count) metadata forwards") }
        for f in metadataForwards {
            let parsed = try forward(f, origin: .metadata)
            forwards.append(parsed)
            if let since = f.since { dated[parsed] = since }
        }
        var parsedInterfaces: [RunningGuest.Interface] = []
        for i in interfaces ?? [] {
            guard let mac = MAC(i.mac) else { throw PortFwdError(.invalidInput, "'\(i.mac)' is not a MAC address") }
            parsedInterfaces.append(RunningGuest.Interface(mac: mac, network: i.network, bridge: i.bridge))
        }
        let source: AddressSource
        if let text = addressSource {
            guard let s = AddressSource(rawValue: text) else { throw PortFwdError(.invalidInput, "unknown address source '\(text)'") }
            source = s
        } else {
            source = .explicit
        }
        var clients: [Family: String] = [:]
        for (key, client) in leaseClients ?? [:] {
            guard let family = Family(rawValue: key), Lease.isClientID(client) else {
                throw PortFwdError(.invalidInput, "leaseClients: '\(key)' is not a client identity of a family")
            }
            clients[family] = client
        }
        let a4 = try address(address4, .ipv4, "address4"), a6 = try address(address6, .ipv6, "address6")
        let holds: Holdings
        if version < 3 {
            // Recorded before holdings were: what it had then, it held.
            holds = Holdings(addresses: Dictionary(uniqueKeysWithValues: [a4, a6].compactMap { $0 }.map { ($0.family, $0) }), forwards: Set(forwards))
        } else {
            var held: [Family: IPAddress] = [:]
            guard (heldAddresses ?? []).count <= 2, (heldForwards ?? []).count <= 8192 else { throw PortFwdError(.invalidInput, "too much held") }
            for text in heldAddresses ?? [] {
                guard let a = IPAddress(text), a.guestRefusal == nil, held[a.family] == nil else {
                    throw PortFwdError(.invalidInput, "heldAddresses: '\(text)'")
                }
                held[a.family] = a
            }
            var heldSet = Set<Forward>()
            for f in heldForwards ?? [] {
                guard let origin = f.origin.flatMap(Forward.Origin.init(rawValue:)) else {
                    throw PortFwdError(.invalidInput, "heldForwards: no origin")
                }
                heldSet.insert(try forward(f, origin: origin))
            }
            holds = Holdings(addresses: held, forwards: heldSet)
        }
        return RunningGuest(uuid: try DomainUUID(uuid), name: try GuestName(name), interfaces: parsedInterfaces,
                            address4: a4, address6: a6, addressSource: source,
                            metadata: RunningGuest.Metadata(forwards: forwards, address4: try address(metadataAddress4, .ipv4, "metadataAddress4"),
                                                            address6: try address(metadataAddress6, .ipv6, "metadataAddress6"), since: dated),
                            since: since ?? 0, leaseClients: clients, holds: holds)
    }
}
