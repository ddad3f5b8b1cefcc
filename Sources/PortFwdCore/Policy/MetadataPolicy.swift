/// What a domain's own `<metadata>` forwards may open. Anyone allowed `virsh metadata` on one
/// guest can write them, so they get the admin's limits (settings.metadata-*), checked at
/// every plan, so that tightening the policy and re-applying drops what it no longer allows.
/// Its `<address>` is `AddressPolicy`'s.
public struct MetadataPolicy: Sendable {
    public let settings: Settings

    public init(settings: Settings) { self.settings = settings }

    /// Every reason the metadata's forwards are refused, a few lines at most whatever the
    /// metadata holds; empty when allowed.
    public func forwardProblems(_ forwards: [Forward], guest: GuestName) -> [String] {
        var problems: [String] = []
        if forwards.count > settings.metadataMaxForwards {
            problems.append("guest \(guest): metadata declares \(forwards.count) forwards, "
                + "more than settings.metadata-max-forwards (\(settings.metadataMaxForwards))")
        }
        let ports = forwards.reduce(0) { $0 + $1.spec.hostPorts.count }
        if ports > settings.metadataMaxPorts {
            problems.append("guest \(guest): metadata forwards cover \(ports) host ports, "
                + "more than settings.metadata-max-ports (\(settings.metadataMaxPorts))")
        }
        let outside = forwards.filter { f in !settings.metadataHostPorts.contains { $0.contains(f.spec.hostPorts) } }
        if !outside.isEmpty {
            let allowed = settings.metadataHostPorts.map(\.description).joined(separator: ", ")
            let named = outside.prefix(3).map(\.spec.description).joined(separator: ", ")
                + (outside.count > 3 ? " and \(outside.count - 3) more" : "")
            problems.append("guest \(guest): metadata forward\(outside.count == 1 ? "" : "s") \(named) "
                + "use\(outside.count == 1 ? "s" : "") host ports outside "
                + "settings.metadata-host-ports (\(allowed.isEmpty ? "none" : allowed)); forwards in the config file may use any port")
        }
        return problems
    }
}
