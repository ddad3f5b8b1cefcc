/// Combines the config with what is running into the guests to plan for. Pure: the kernel
/// rules are a function of (config, state), so replaying any event converges.
public enum Resolver {
    /// - Parameter all: also every configured guest that is not running (for `--all`,
    ///   a boot-time ruleset under nftables.service).
    public static func guests(config: Config, running: [RunningGuest], all: Bool) -> (guests: [Guest], warnings: [String]) {
        var guests: [Guest] = []
        var warnings: [String] = []
        var usedConfig = Set<Int>()
        for r in running {
            let index = config.guests.firstIndex { $0.matches(name: r.name, uuid: r.uuid) }
            if let index { usedConfig.insert(index) }
            let entry = index.map { config.guests[$0] }
            let guest = merge(entry, running: r, settings: config.settings)
            if !guest.forwards.isEmpty { guests.append(guest) }
        }
        if all {
            for (index, entry) in config.guests.enumerated() where !usedConfig.contains(index) && !entry.forwards.isEmpty {
                guard entry.address4 != nil || entry.address6 != nil else {
                    warnings.append("\(entry.path) (\(entry.label)): skipped, no address in the config (addresses are only discovered when the guest starts)")
                    continue
                }
                // A uuid-only entry has no name; the uuid stands in for comments and messages.
                let name = entry.name ?? (try? GuestName(entry.uuid?.value ?? entry.path))
                guests.append(Guest(name: name!, uuid: entry.uuid, address4: entry.address4, address6: entry.address6,
                                    forwards: entry.forwards))
            }
        }
        return (guests, warnings)
    }

    /// Config forwards first, then metadata ones (when allowed); exact duplicates collapse,
    /// so declaring a forward in both places is not a conflict with itself.
    public static func merge(_ entry: GuestConfig?, running r: RunningGuest, settings: Settings) -> Guest {
        var forwards = entry?.forwards ?? []
        if settings.metadata {
            for f in r.metadataForwards where !forwards.contains(where: { $0.spec == f.spec && $0.sources == f.sources }) {
                forwards.append(f)
            }
        }
        return Guest(name: r.name, uuid: r.uuid, address4: entry?.address4 ?? r.address4,
                     address6: entry?.address6 ?? r.address6, forwards: forwards)
    }
}
