import PortFwdCore
import PortFwdSystem

/// The strategies `Host.backends(_:)` chose for one set of settings: the one selected and the
/// others, whose leftovers are removed after a switch.
public struct Backends: Sendable {
    public let selected: FirewallBackend
    public let others: [FirewallBackend]
    /// libnftables, when it can reach the kernel: for looks at other firewalls' tables.
    public let nft: NftablesRunner?

    public init(selected: FirewallBackend, others: [FirewallBackend] = [], nft: NftablesRunner? = nil) {
        self.selected = selected
        self.others = others
        self.nft = nft
    }
}
