/// One `[[guest]]` table: which domain, where it lives, and what to forward to it.
public struct GuestConfig: Hashable, Sendable {
    public var name: GuestName?
    public var uuid: DomainUUID?
    public var address4: IPAddress?
    public var address6: IPAddress?
    public var forwards: [Forward]
    /// The `guest[N]` path, for messages.
    public var path: String

    public init(name: GuestName? = nil, uuid: DomainUUID? = nil, address4: IPAddress? = nil, address6: IPAddress? = nil,
                forwards: [Forward] = [], path: String = "guest") {
        self.name = name
        self.uuid = uuid
        self.address4 = address4
        self.address6 = address6
        self.forwards = forwards
        self.path = path
    }


    /// How messages and comments refer to this guest.
    public var label: String { name?.value ?? uuid?.value ?? path }
}

extension GuestConfig: AddressPair {}
