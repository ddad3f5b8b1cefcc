/// Picks the strategy: `--backend` over `settings.backend`; `auto` is nftables when
/// libnftables can talk to the kernel, else iptables. The others are returned as retired.
public enum Backends {
    public static func make(settings: Settings, override: Settings.Backend? = nil, flavor: IptablesFlavor? = nil,
                            commands: CommandRunner = ProcessRunner()) -> (selected: FirewallBackend, retired: [FirewallBackend]) {
        let libnftables = LibNftables()
        let usable = (try? libnftables.run("list tables")) != nil
        let nft: NftablesRunner? = usable ? libnftables : nil
        let admission = Admission(nft: nft, commands: commands, mark: settings.mark, mode: settings.admission)
        let iptables = IptablesBackend(commands: commands, admission: admission, flavor: flavor)
        var choice = override ?? settings.backend
        if choice == .auto { choice = usable ? .nftables : .iptables }
        switch choice {
        case .nftables:
            return (NftablesBackend(nft: libnftables, admission: admission), [iptables])
        case .iptables, .auto:
            return (iptables, nft.map { [NftablesBackend(nft: $0, admission: admission)] } ?? [])
        }
    }
}
