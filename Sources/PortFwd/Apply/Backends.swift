/// Picks the strategy: `--backend` over `settings.backend`; `auto` is nftables when
/// libnftables can talk to the kernel, else iptables. The others are returned as retired.
public enum Backends {
    public static func make(settings: Settings, override: Settings.Backend? = nil, flavor: IptablesFlavor? = nil,
                            commands: CommandRunner = ProcessRunner()) -> (selected: FirewallBackend, retired: [FirewallBackend]) {
        let libnftables = LibNftables()
        var usable = true, present = true
        // A listing of one table that is never there: it reaches the kernel, permission check
        // included, for about 1 ms. Not `list tables`, which makes libnftables 1.0.6 fetch
        // every table whole (150 ms once ours holds 10,000 forwards), and not a dry run, which
        // waits out the kernel's transaction abort (about 15 ms).
        var failure: String?
        do { _ = try libnftables.run("list table inet \(NftRenderer.table)_probe") } catch { failure = error.message }
        if let failure, !failure.contains("No such file or directory") {
            usable = false
            // Not root: nftables is there, we just may not look. `export` as a user must still
            // print the nftables ruleset, not fall back to iptables.
            present = failure.contains("Operation not permitted")
        }
        let nft: NftablesRunner? = usable ? libnftables : nil
        let admission = Admission(nft: nft, commands: commands, mark: settings.mark, mode: settings.admission)
        let iptables = IptablesBackend(commands: commands, admission: admission, flavor: flavor)
        var choice = override ?? settings.backend
        if choice == .auto { choice = present ? .nftables : .iptables }
        switch choice {
        case .nftables:
            return (NftablesBackend(nft: libnftables, admission: admission), [iptables])
        case .iptables, .auto:
            return (iptables, nft.map { [NftablesBackend(nft: $0, admission: admission)] } ?? [])
        }
    }
}
