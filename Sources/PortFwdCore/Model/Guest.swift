/// A guest whose forwards are ready to plan: addresses known, forwards validated.
public struct Guest: Hashable, Sendable {
    public let name: GuestName
    public let uuid: DomainUUID?
    public let address4: IPAddress?
    public let address6: IPAddress?
    public let forwards: [Forward]

    public init(name: GuestName, uuid: DomainUUID? = nil, address4: IPAddress?, address6: IPAddress?, forwards: [Forward]) {
        self.name = name
        self.uuid = uuid
        self.address4 = address4
        self.address6 = address6
        self.forwards = forwards
    }

}
