/// What we know about a running domain beyond the config: its identity, the addresses found
/// for it at start, and the forwards its own `<metadata>` declared.
public struct RunningGuest: Hashable, Sendable {
    public let uuid: DomainUUID
    public let name: GuestName
    public let address4: IPAddress?
    public let address6: IPAddress?
    /// How the addresses were found: config, metadata, dhcp-host, lease.
    public let addressSource: String?
    public let metadataForwards: [Forward]

    public init(uuid: DomainUUID, name: GuestName, address4: IPAddress? = nil, address6: IPAddress? = nil,
                addressSource: String? = nil, metadataForwards: [Forward] = []) {
        self.uuid = uuid
        self.name = name
        self.address4 = address4
        self.address6 = address6
        self.addressSource = addressSource
        self.metadataForwards = metadataForwards
    }
}

/// On-disk form of a `RunningGuest`: plain strings, re-parsed through the same validating
/// parsers on every load, so a tampered or corrupt file cannot inject rule text.
struct GuestRecord: Codable {
    struct RecordForward: Codable {
        var spec: String
        var sources: [String]
    }

    var version = 1
    var uuid: String
    var name: String
    var address4: String?
    var address6: String?
    var addressSource: String?
    var metadataForwards: [RecordForward]

    init(_ guest: RunningGuest) {
        uuid = guest.uuid.value
        name = guest.name.value
        address4 = guest.address4?.description
        address6 = guest.address6?.description
        addressSource = guest.addressSource
        metadataForwards = guest.metadataForwards.map { RecordForward(spec: $0.spec.description, sources: $0.sources.map(\.description)) }
    }

    func validated() throws(ParseError) -> RunningGuest {
        guard version == 1 else { throw ParseError("unknown record version \(version)") }
        func address(_ text: String?, _ family: Family) throws(ParseError) -> IPAddress? {
            guard let text else { return nil }
            guard let a = IPAddress(text), a.family == family else { throw ParseError("bad address '\(text)'") }
            return a
        }
        var forwards: [Forward] = []
        for f in metadataForwards {
            var sources: [Network] = []
            for s in f.sources { sources.append(try Network.parse(s)) }
            forwards.append(Forward(spec: try PortSpec.parse(f.spec), sources: sources, origin: .metadata))
        }
        return RunningGuest(uuid: try DomainUUID(uuid), name: try GuestName(name), address4: try address(address4, .ipv4),
                            address6: try address(address6, .ipv6), addressSource: addressSource, metadataForwards: forwards)
    }
}
