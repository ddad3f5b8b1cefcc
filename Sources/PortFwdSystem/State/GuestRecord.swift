import PortFwdCore

/// On-disk form of a `RunningGuest`: plain strings, re-parsed through the same validating
/// parsers as the config on every load, so a tampered or corrupt file cannot inject rule text
/// or name an address the config could not. Version 1 records (before interfaces and the
/// metadata's own addresses were kept) still load.
struct GuestRecord: Codable {
    struct RecordForward: Codable {
        var spec: String
        var sources: [String]
        var since: Int64?
    }

    struct RecordInterface: Codable {
        var mac: String
        var network: String?
        var bridge: String?
    }

    var version = 2
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

    init(_ guest: RunningGuest) {
        uuid = guest.uuid.value
        name = guest.name.value
        interfaces = guest.interfaces.map { RecordInterface(mac: $0.mac.value, network: $0.network, bridge: $0.bridge) }
        address4 = guest.address4?.description
        address6 = guest.address6?.description
        addressSource = guest.addressSource.rawValue
        metadataForwards = guest.metadata.forwards.map { RecordForward(spec: $0.spec.description, sources: $0.sources.map(\.description), since: guest.metadata.since[$0]) }
        metadataAddress4 = guest.metadata.address4?.description
        metadataAddress6 = guest.metadata.address6?.description
        since = guest.since
    }

    func validated() throws(PortFwdError) -> RunningGuest {
        guard version == 1 || version == 2 else { throw PortFwdError(.invalidInput, "unknown record version \(version)") }
        func address(_ text: String?, _ family: Family, _ key: String) throws(PortFwdError) -> IPAddress? {
            guard let text else { return nil }
            guard let a = IPAddress(text), a.family == family else { throw PortFwdError(.invalidInput, "\(key) '\(text)' is not an \(family.label) address") }
            if let refusal = a.guestRefusal { throw PortFwdError(.invalidInput, "\(key): \(refusal)") }
            return a
        }
        var forwards: [Forward] = []
        var dated: [Forward: Int64] = [:]
        guard metadataForwards.count <= 4096 else { throw PortFwdError(.invalidInput, "\(metadataForwards.count) metadata forwards") }
        for f in metadataForwards {
            guard f.sources.count <= Domain.maximumSources else { throw PortFwdError(.invalidInput, "\(f.sources.count) sources on one forward") }
            var sources: [Network] = []
            for s in f.sources { sources.append(try Network.parse(s)) }
            let forward = Forward(spec: try PortSpec.parse(f.spec), sources: sources, origin: .metadata)
            forwards.append(forward)
            if let since = f.since { dated[forward] = since }
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
        return RunningGuest(uuid: try DomainUUID(uuid), name: try GuestName(name), interfaces: parsedInterfaces,
                            address4: try address(address4, .ipv4, "address4"), address6: try address(address6, .ipv6, "address6"),
                            addressSource: source,
                            metadata: RunningGuest.Metadata(forwards: forwards, address4: try address(metadataAddress4, .ipv4, "metadataAddress4"),
                                                            address6: try address(metadataAddress6, .ipv6, "metadataAddress6"), since: dated),
                            since: since ?? 0)
    }
}
