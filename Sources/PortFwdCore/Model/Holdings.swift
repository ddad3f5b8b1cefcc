/// What a running guest holds since the last plan that was installed: the addresses granted to
/// it and the forwards installed for it. The first holder keeps what it holds: evidence anyone
/// can forge (a neighbour entry, a lease another guest's DHCP client asked for, a socket a
/// local user opened) may refuse a newcomer's claim, and never takes these away. Only the
/// admin's word (the config, a network's static host) or the guest's own change of claim does.
public struct Holdings: Hashable, Sendable {
    public var addresses: [Family: IPAddress]
    public var forwards: Set<Forward>

    public init(addresses: [Family: IPAddress] = [:], forwards: Set<Forward> = []) {
        self.addresses = addresses
        self.forwards = forwards
    }

    public static let none = Holdings()

    /// Whether `address` is held for `family`.
    public func holds(_ address: IPAddress) -> Bool { addresses[address.family] == address }
}
