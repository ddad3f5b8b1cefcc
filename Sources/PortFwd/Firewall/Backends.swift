import PortFwdCore
import PortFwdSystem

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
        var usable = true
        if probe {
            // A listing of one table that is never there reaches the kernel, permission check
            // included, without fetching anything (unlike `list tables`, which fetches every
            // table whole, set elements included).
            do { _ = try nft.run("list table \(NftablesBackend.table)_probe") } catch {
                usable = error.code == .notFound || error.code == .permission
            }
        }
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
}
