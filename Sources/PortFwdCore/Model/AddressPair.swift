/// Whatever holds at most one address of each family (a configured guest, a planned one, a
/// running one, its metadata): read by family in one place.
public protocol AddressPair {
    var address4: IPAddress? { get }
    var address6: IPAddress? { get }
}

extension AddressPair {
    public func address(_ family: Family) -> IPAddress? {
        switch family {
        case .ipv4: return address4
        case .ipv6: return address6
        }
    }
}

extension Guest: AddressPair {}
extension RunningGuest: AddressPair {}
extension RunningGuest.Metadata: AddressPair {}
