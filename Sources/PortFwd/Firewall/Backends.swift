import PortFwdCore
import PortFwdSystem
import Synchronization

/// The strategies, chosen by name: `--backend` over `settings.backend`. `auto` is nftables
/// when libnftables can reach the kernel (or is merely not allowed to: a user's `export`),
/// else iptables. The ones not chosen are kept as `others`, so whatever they left behind
/// after a switch can be removed: two strategies must never DNAT the same packet.
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

    /// - Parameter probe: ask the kernel whether libnftables works; without it, `auto` means
    ///   nftables (what `export` and `check` print needs no kernel).
    public static func make(settings: Settings, override: Settings.Backend? = nil, flavour: IptablesFlavour? = nil, probe: Bool = true,
                            nft: NftablesRunner = LibNftables.shared, commands: CommandRunner = ProcessRunner(),
                            procNet: String = "/proc/net") -> Backends {
        let usable = probe ? Self.reaches(nft) : true
        let runner: NftablesRunner? = usable ? nft : nil
        let nftables = NftablesBackend(nft: nft, commands: commands, procNet: procNet)
        let iptables = IptablesBackend(commands: commands, nft: runner, flavour: flavour, procNet: procNet)
        var choice = override ?? settings.backend
        if choice == .auto { choice = usable ? .nftables : .iptables }
        switch choice {
        case .nftables: return Backends(selected: nftables, others: [iptables], nft: runner)
        case .iptables, .auto: return Backends(selected: iptables, others: usable ? [nftables] : [], nft: runner)
        }
    }

    /// Whether libnftables reaches the kernel. A listing of one table that is never there
    /// reaches it, permission check included, without fetching anything (unlike `list
    /// tables`, which fetches every table whole, set elements included). The process's own
    /// context is asked until it answers yes, then never again: a transaction builds its
    /// backends several times, and the service for months.
    static func reaches(_ nft: NftablesRunner) -> Bool {
        let shared = (nft as? LibNftables) === LibNftables.shared
        if shared, sharedReaches.withLock({ $0 }) { return true }
        var usable = true
        do { _ = try nft.run("list table \(NftablesBackend.table)_probe") } catch {
            usable = error.code == .notFound || error.code == .permission
        }
        if shared && usable { sharedReaches.withLock { $0 = true } }
        return usable
    }

    private static let sharedReaches = Mutex(false)
}
