/// Combines the config with what is running into the guests to plan for. Pure: the kernel
/// rules are a function of (config, running guests), so replaying any event converges.
public enum Resolver {
    public struct Result: Sendable {
        public var guests: [Guest] = []
        /// One line each: metadata the policy refuses now, config guests skipped.
        public var warnings: [String] = []
        /// Running guests with forwards that still wait for an address.
        public var pending: [RunningGuest] = []
    }

    /// - Parameters:
    ///   - all: also every configured guest that is not running (`apply --all`).
    ///   - surroundings: libvirt's networks and the host's addresses, for re-checking
    ///     metadata addresses; asked for only when a running guest has one.
    public static func resolve(config: Config, running: [RunningGuest], all: Bool,
                               surroundings: @autoclosure () -> Surroundings = Surroundings()) -> Result {
        var result = Result()
        var used = Set<Int>()
        var known: Surroundings?
        var others: [(name: GuestName, address: IPAddress)] = []
        // Oldest first: when two guests' metadata claim one address, the first keeps it.
        let ordered = running.enumerated().sorted { ($0.element.since, $0.offset) < ($1.element.since, $1.offset) }.map(\.element)
        for r in ordered {
            let entry = config.guest(named: r.name, uuid: r.uuid)
            if let entry, let index = config.guests.firstIndex(of: entry) { used.insert(index) }
            let needsSurroundings = config.settings.metadata && !r.metadata.isEmpty
            if needsSurroundings && known == nil { known = surroundings() }
            let (guest, warnings) = merge(entry, running: r, settings: config.settings, surroundings: known ?? Surroundings(), others: others)
            result.warnings += warnings
            for family in Family.allCases { if let a = guest.address(family) { others.append((guest.name, a)) } }
            if guest.forwards.isEmpty { continue }
            if r.addressSource == .pending && guest.address4 == nil && guest.address6 == nil {
                result.pending.append(r)
            } else {
                result.guests.append(guest)
            }
        }
        if all {
            for (index, entry) in config.guests.enumerated() where !used.contains(index) && !entry.forwards.isEmpty {
                guard entry.address4 != nil || entry.address6 != nil else {
                    result.warnings.append("\(entry.path) (\(entry.label)): skipped, no address in the config (addresses are only discovered when the guest starts)")
                    continue
                }
                // A uuid-only entry has no name; the uuid stands in for comments and messages.
                let name = entry.name ?? (try? GuestName(entry.uuid?.value ?? entry.path))
                result.guests.append(Guest(name: name!, uuid: entry.uuid, address4: entry.address4, address6: entry.address6,
                                           forwards: entry.forwards))
            }
        }
        return result
    }

    /// Config forwards first, then metadata ones (when the policy allows them now); exact
    /// duplicates collapse, so declaring a forward in both places is not a conflict with itself.
    /// An address the config sets wins; one that came from metadata is re-checked.
    public static func merge(_ entry: GuestConfig?, running r: RunningGuest, settings: Settings,
                             surroundings: Surroundings = Surroundings(),
                             others: [(name: GuestName, address: IPAddress)] = []) -> (Guest, [String]) {
        var warnings: [String] = []
        var forwards = entry?.forwards ?? []
        let policy = MetadataPolicy(settings: settings)
        if settings.metadata && !r.metadata.forwards.isEmpty {
            let problems = policy.forwardProblems(r.metadata.forwards, guest: r.name)
            if problems.isEmpty {
                for f in r.metadata.forwards where !forwards.contains(where: { $0.spec == f.spec && $0.sources == f.sources }) {
                    forwards.append(f)
                }
            } else {
                warnings += problems.map { "\($0); its metadata forwards are not installed" }
            }
        }
        var addresses: [Family: IPAddress] = [:]
        var revoked: Set<Family> = []
        for family in Family.allCases {
            if let configured = entry?.address(family) { addresses[family] = configured; continue }
            guard let address = r.address(family) else { continue }
            if r.addressSource == .explicit && r.metadata.address(family) == address {
                // The address came from metadata: it is only as good as the policy says now.
                let problem = settings.metadata
                    ? policy.addressProblem(address, guest: r.name, interfaces: r.interfaces, surroundings: surroundings, others: others)
                    : "guest \(r.name): metadata is off (settings.metadata = false), so its metadata \(family.addressKey) \(address) is not used"
                if let problem {
                    warnings.append("\(problem); forwards to it are not installed")
                    revoked.insert(family)
                    continue
                }
            }
            addresses[family] = address
        }
        // A forward whose only targets were refused above goes; any other forward without a
        // target stays, for the plan to report as the config error it is.
        forwards.removeAll { f in
            let families = f.spec.hostAddress.map { [$0.family] } ?? Family.allCases
            return families.allSatisfy { addresses[$0] == nil } && families.contains { revoked.contains($0) }
        }
        return (Guest(name: r.name, uuid: r.uuid, address4: addresses[.ipv4], address6: addresses[.ipv6], forwards: forwards), warnings)
    }
}
