/// What we know about a running domain beyond the config: its identity, its interfaces, the
/// addresses found for it at start, and what its own `<metadata>` asked for. Metadata is kept
/// as asked, not as allowed: every plan re-checks it against the policy of the moment.
public struct RunningGuest: Hashable, Sendable {
    public let uuid: DomainUUID
    public let name: GuestName
    public let interfaces: [Interface]
    public let address4: IPAddress?
    public let address6: IPAddress?
    public let addressSource: AddressSource
    public let metadata: Metadata
    /// When the record was written (seconds since 1970): a record younger than a start's
    /// duration may belong to a guest whose runtime status file libvirt has not written yet.
    public let since: Int64
    /// For an address from a lease: the DHCP client identity (`client-id`, "" when the lease
    /// carries none) of the lease it came from, per family. A lease is attributed to the guest
    /// by the identity its client has been using, not by the MAC alone, which any guest can put
    /// in a DHCP request.
    public let leaseClients: [Family: String]
    /// What the last installed plan gave it: see `Holdings`.
    public let holds: Holdings

    public init(uuid: DomainUUID, name: GuestName, interfaces: [Interface] = [], address4: IPAddress? = nil,
                address6: IPAddress? = nil, addressSource: AddressSource = .explicit, metadata: Metadata = Metadata(), since: Int64 = 0,
                leaseClients: [Family: String] = [:], holds: Holdings = .none) {
        self.uuid = uuid
        self.name = name
        self.interfaces = interfaces
        self.address4 = address4
        self.address6 = address6
        self.addressSource = addressSource
        self.metadata = metadata
        self.since = since
        self.leaseClients = leaseClients
        self.holds = holds
    }

    /// The same guest at another address (a lease changed), or still waiting for one.
    public func readdressed(_ address4: IPAddress?, _ address6: IPAddress?, source: AddressSource,
                            leaseClients: [Family: String] = [:]) -> RunningGuest {
        RunningGuest(uuid: uuid, name: name, interfaces: interfaces, address4: address4, address6: address6,
                     addressSource: source, metadata: metadata, since: since,
                     leaseClients: source == .lease ? leaseClients : [:], holds: holds)
    }

    /// The same guest holding what a plan gave it.
    public func holding(_ holds: Holdings) -> RunningGuest {
        RunningGuest(uuid: uuid, name: name, interfaces: interfaces, address4: address4, address6: address6,
                     addressSource: addressSource, metadata: metadata, since: since, leaseClients: leaseClients, holds: holds)
    }

    /// The same guest with what another record of it holds: the plan that was installed for it.
    public func keeping(from record: RunningGuest) -> RunningGuest { holding(record.holds) }

    /// One network interface of a domain: its MAC, and the libvirt network or bridge it is on.
    public struct Interface: Hashable, Sendable {
        public let mac: MAC
        public let network: String?
        public let bridge: String?

        public init(mac: MAC, network: String?, bridge: String?) {
            self.mac = mac
            self.network = network
            self.bridge = bridge
        }
    }

    /// What a domain's `<metadata>` declares, before the policy has had its say.
    public struct Metadata: Hashable, Sendable {
        public let forwards: [Forward]
        public let address4: IPAddress?
        public let address6: IPAddress?
        /// When each forward first appeared on the running guest (seconds since 1970): of two
        /// guests' metadata forwards on one port, the one that was there first keeps it, so a
        /// guest owner's live edit can never take a port from another guest.
        public let since: [Forward: Int64]

        public init(forwards: [Forward] = [], address4: IPAddress? = nil, address6: IPAddress? = nil, since: [Forward: Int64] = [:]) {
            self.forwards = forwards
            self.address4 = address4
            self.address6 = address6
            self.since = since
        }

        public var isEmpty: Bool { forwards.isEmpty && address4 == nil && address6 == nil }

        /// The same addresses, asking for no forward.
        public func withoutForwards() -> Metadata { Metadata(address4: address4, address6: address6) }

        /// The same forwards, each dated: from `previous` where it was there already, else `now`.
        public func stamped(_ now: Int64, after previous: Metadata? = nil) -> Metadata {
            Metadata(forwards: forwards, address4: address4, address6: address6,
                     since: Dictionary(forwards.map { ($0, previous?.since[$0] ?? now) }, uniquingKeysWith: min))
        }
    }
}

/// Where a running guest's addresses came from; `status` shows it.
public enum AddressSource: String, Sendable, Hashable, Codable, CaseIterable {
    /// `address`/`address6` in the config or in the domain's metadata.
    case explicit
    /// A static `<host mac= ip=/>` in the network's DHCP section.
    case dhcpHost = "dhcp-host"
    /// A current lease in libvirt's lease file for the interface's MAC.
    case lease
    /// None yet: the watch service installs the forwards when a lease appears.
    case pending
}

/// A MAC address in libvirt's lower-case colon form.
public struct MAC: Hashable, Sendable, CustomStringConvertible {
    public let value: String
    public init?(_ text: String) {
        guard text.utf8.count == 17 else { return nil }
        let lower = text.lowercased()
        let parts = lower.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 6, parts.allSatisfy({ $0.count == 2 && $0.allSatisfy { $0.isHexDigit && $0.isASCII } }) else { return nil }
        value = lower
    }
    public var description: String { value }
}
