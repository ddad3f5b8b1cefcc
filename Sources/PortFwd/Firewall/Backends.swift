import PortFwdCore
import PortFwdSystem

/// The strategies `Host.backends(_:)` chose for one set of settings: the one selected and the
/// others, whose leftovers are removed after a switch.
public struct Backends: Sendable {
    public let selected: FirewallBackend
    public let others: [FirewallBackend]

    public init(selected: FirewallBackend, others: [FirewallBackend] = []) {
        self.selected = selected
        self.others = others
    }
}
