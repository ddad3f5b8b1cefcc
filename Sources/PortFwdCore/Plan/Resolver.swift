/// Combines the config with what is running into the guests to plan for. Pure, and a function
/// of its inputs' content alone: the records are taken in UUID order, whatever order they
/// started in, so re-running any event converges on the same plan.
///
/// Authority, not observation, moves a forward (libvirt-portfwd(8), SECURITY):
/// - **An address belongs to at most one guest.** The admin (a config address, then a
///   network's static DHCP host) outranks the network's record of a lease, which outranks a
///   guest's own metadata. The first holder keeps what it holds (`Holdings`): only the admin
///   takes it away. A newcomer's claim (a lease or metadata) is refused when any record or the
///   wire shows the address to be another's, and counts once the host has seen the address in
///   use at the guest's own MAC. Of two newcomers as good as each other, neither.
/// - **A host port belongs to at most one forward.** Config forwards outrank metadata ones;
///   of two metadata forwards, the one that was there first keeps the port. Only a clash
///   between two config forwards, one of them the starting guest's, refuses a start
///   (`refusals`): a guest owner can never keep another guest from starting.
/// - **Host services, by authority.** A host service of root or a system user keeps its port
///   from a new metadata forward; it never takes an installed one. A local user's socket never
///   decides anything, and is named (`usersHidden`).
/// - **Isolated means isolated.** No metadata forward reaches a guest on a network without
///   `<forward>`; a config forward does only with settings.isolated-forwards.
public enum Resolver {
    public struct Result: Sendable {
        /// In UUID order; configured guests that do not run (`apply --all`) after them.
        public var guests: [Guest] = []
        /// One line each: metadata the policy refuses now, disputes, forwards left out.
        public var warnings: [String] = []
        /// Running guests with forwards that wait: for a DHCP lease, or for an address that
        /// is theirs alone.
        public var pending: [PendingGuest] = []
        /// Clashes of `newcomer`'s config forwards with another guest's: the start is refused.
        public var refusals: [String] = []
        /// Conflicts between config forwards of guests already covered: both are left out.
        /// `apply` and `check` refuse such a config; the hooks and the service warn.
        public var conflicts: [String] = []
        /// Every forward of a running guest the plan leaves out, with its reason (pending
        /// forwards, which wait for an address, are in `pending` instead).
        public var leftOut: [LeftOut] = []
        /// What each running guest holds once this plan is installed.
        public var holdings: [DomainUUID: Holdings] = [:]
        /// Installed forwards that hide a local user's socket, one line each.
        public var usersHidden: [String] = []
    }

    /// - Parameters:
    ///   - all: also every configured guest that is not running (`apply --all`).
    ///   - newcomer: a guest starting (`prepare`, `start`): a clash of its config forwards
    ///     with another's config forwards is a refusal.
    ///   - surroundings: libvirt's networks, leases, the host's addresses, neighbours and
    ///     sockets; asked for only when a guest has forwards.
    public static func resolve(config: Config, running: [RunningGuest], all: Bool, newcomer: DomainUUID? = nil,
                               surroundings: @autoclosure () -> Surroundings = Surroundings()) -> Result {
        var result = Result()
        var known: Surroundings?
        let around = { () -> Surroundings in
            if let known { return known }
            known = surroundings()
            return known!
        }
        var candidates = Candidate.running(config: config, running: running, around: around, into: &result)
        if all { candidates += Candidate.configured(config: config, besides: candidates, around: around, warnings: &result.warnings) }
        Addresses.settle(&candidates, config: config, around: around)
        Ports.settle(&candidates, newcomer: newcomer, into: &result)
        for candidate in candidates {
            let (guest, waiting, notes) = candidate.placed(config.settings, around: around)
            result.warnings += Family.allCases.compactMap { candidate.denied[$0] } + notes.map(\.message)
            if let opened = candidate.isolationOpened(config.settings, around: around) { result.warnings.append(opened) }
            if candidate.record != nil { result.leftOut += notes }
            if let guest {
                result.guests.append(guest)
                result.usersHidden += Candidate.usersHidden(by: guest, around: around)
            }
            if let record = candidate.record {
                let installed = guest.map { g in
                    Dictionary(uniqueKeysWithValues: Family.allCases.compactMap { f in g.address(f).map { (f, $0) } })
                } ?? [:]
                result.holdings[record.uuid] = Holdings(addresses: installed, forwards: Set(guest?.forwards ?? []))
                if !waiting.isEmpty {
                    result.pending.append(PendingGuest(guest: record, forwards: waiting, reason: candidate.waitReason))
                }
            }
        }
        return result
    }

    /// Config forwards first, then metadata ones (when the policy allows them now); exact
    /// duplicates collapse, so declaring a forward in both places is not a conflict with itself.
    static func forwards(_ entry: GuestConfig?, _ r: RunningGuest, _ settings: Settings, around: () -> Surroundings,
                         into result: inout Result) -> [Forward] {
        var forwards = entry?.forwards ?? []
        for f in forwards {
            // The admin may shadow a host service: said, not refused.
            let hidden = around().hidden(by: f.spec)
            if !hidden.isEmpty {
                result.warnings.append("guest \(r.name): forward \(f.spec) hides a host service listening on "
                    + "\(hidden.joined(separator: ", "))")
            }
        }
        guard settings.metadata, !r.metadata.forwards.isEmpty else { return forwards }
        let problems = MetadataPolicy(settings: settings).forwardProblems(r.metadata.forwards, guest: r.name)
        guard problems.isEmpty else {
            result.warnings += problems.map { "\($0); its metadata forwards are not installed" }
            let message = problems.joined(separator: "; ")
            result.leftOut += r.metadata.forwards.map { LeftOut(guest: r.name, uuid: r.uuid, forward: $0, reason: .policy, message: message) }
            return forwards
        }
        for f in r.metadata.forwards where !forwards.contains(where: { $0.isSame(as: f) }) {
            // A host service keeps its port from a new metadata forward (only the admin may
            // shadow one), but never takes one that was installed before it listened.
            let hidden = around().hidden(by: f.spec)
            if !hidden.isEmpty {
                if r.holds.forwards.contains(f) {
                    result.warnings.append("guest \(r.name): metadata forward \(f.spec) hides a host service that listens on "
                        + "\(hidden.joined(separator: ", ")) since the forward was installed; the forward stays")
                } else {
                    let message = "guest \(r.name): metadata forward \(f.spec) would hide a host service listening on "
                        + "\(hidden.joined(separator: ", ")); left out"
                    result.warnings.append(message)
                    result.leftOut.append(LeftOut(guest: r.name, uuid: r.uuid, forward: f, reason: .hostService, message: message))
                    continue
                }
            }
            forwards.append(f)
        }
        return forwards
    }
}

/// A guest whose forwards wait, and why.
public struct PendingGuest: Sendable, Hashable {
    public let guest: RunningGuest
    /// The forwards that wait.
    public let forwards: [Forward]
    public let reason: PendingReason

    public init(guest: RunningGuest, forwards: [Forward], reason: PendingReason) {
        self.guest = guest
        self.forwards = forwards
        self.reason = reason
    }
}

/// Why a running guest's forwards wait. Its text is what the hooks log and `status` prints.
public enum PendingReason: Sendable, Hashable, CustomStringConvertible {
    /// The guest has no address yet: the service installs its forwards when a lease comes.
    case lease
    /// Every address the guest claims is refused, one line each: a dispute, metadata that is off.
    case refused([String])

    public var description: String {
        switch self {
        case .lease: "waits for a DHCP lease"
        case .refused(let lines): lines.joined(separator: "; ")
        }
    }
}

/// One guest on its way into the plan.
struct Candidate {
    struct Claim {
        let address: IPAddress
        let rank: ClaimRank
        /// `config`, `static DHCP host`, `metadata`, `lease`.
        let source: String
        /// The guest held it under the last plan: only the admin takes it away.
        let held: Bool
    }

    let name: GuestName
    let uuid: DomainUUID?
    /// nil: a configured guest that does not run (`apply --all`).
    let record: RunningGuest?
    var forwards: [Forward]
    var claims: [Family: Claim] = [:]
    /// Addresses settled: the claims that hold.
    var granted: [Family: IPAddress] = [:]
    /// Why a family has no address, where there is a reason beyond "none known yet".
    var denied: [Family: String] = [:]
    var macs: Set<MAC> { Set(record?.interfaces.map(\.mac) ?? []) }
    var interfaces: [RunningGuest.Interface] { record?.interfaces ?? [] }

    static func running(config: Config, running: [RunningGuest], around: () -> Surroundings, into result: inout Resolver.Result) -> [Candidate] {
        let settings = config.settings
        let policy = AddressPolicy(settings: settings)
        var candidates: [Candidate] = []
        for r in running.sorted(by: { $0.uuid < $1.uuid }) {
            let entry = config.guest(named: r.name, uuid: r.uuid)
            var c = Candidate(name: r.name, uuid: r.uuid, record: r, forwards: Resolver.forwards(entry, r, settings, around: around, into: &result))
            if c.forwards.isEmpty { continue }
            for family in Family.allCases {
                let claim = { (a: IPAddress, rank: ClaimRank, source: String) in
                    c.claims[family] = Claim(address: a, rank: rank, source: source, held: r.holds.holds(a))
                }
                if let a = entry?.address(family) {
                    claim(a, .config, "config")
                } else if r.addressSource == .dhcpHost, let a = r.address(family) {
                    claim(a, .staticHost, "static DHCP host")
                } else if r.addressSource == .explicit, let a = r.metadata.address(family) {
                    guard settings.metadata else {
                        c.denied[family] = "guest \(r.name): metadata is off (settings.metadata = false), "
                            + "so its metadata \(family.addressKey) \(a) is not used"
                        continue
                    }
                    if let problem = policy.problem(a, source: .metadata, guest: r.name, interfaces: r.interfaces, surroundings: around()) {
                        c.denied[family] = problem
                    } else {
                        claim(a, .metadata, "metadata")
                    }
                } else if r.addressSource == .lease, let a = r.address(family) {
                    if let problem = policy.problem(a, source: .lease, guest: r.name, interfaces: r.interfaces, surroundings: around()) {
                        c.denied[family] = problem
                    } else {
                        claim(a, .lease, "lease")
                    }
                } else if r.addressSource == .pending,
                          case .disputed(let why) = LeaseAttribution.choose(family, interfaces: r.interfaces, known: nil, current: nil,
                                                                            surroundings: around()) {
                    c.denied[family] = "guest \(r.name): \(why)"
                }
            }
            candidates.append(c)
        }
        return candidates
    }

    /// Every configured guest with forwards that is not among `besides`. A host service its
    /// forwards would hide is named now, whether or not the guest runs (`check --kernel`).
    static func configured(config: Config, besides: [Candidate], around: () -> Surroundings, warnings: inout [String]) -> [Candidate] {
        var result: [Candidate] = []
        let covered = besides.flatMap { c in
            c.record.map { r in config.entries(named: r.name, uuid: r.uuid) }.map { [$0.byUUID, $0.byName].compactMap { $0 } } ?? []
        }
        for entry in config.guests where !entry.forwards.isEmpty && !covered.contains(entry) {
            for f in entry.forwards {
                let hidden = around().hidden(by: f.spec)
                if !hidden.isEmpty {
                    warnings.append("guest \(entry.label): forward \(f.spec) hides a host service listening on "
                        + "\(hidden.joined(separator: ", "))")
                }
            }
            guard entry.address4 != nil || entry.address6 != nil else {
                warnings.append("\(entry.path) (\(entry.label)): skipped, no address in the config "
                    + "(addresses are only discovered when the guest starts)")
                continue
            }
            // A uuid-only entry has no name; the uuid stands in for comments and messages.
            guard let name = entry.name ?? (try? GuestName(entry.uuid?.value ?? entry.path)) else { continue }

            var c = Candidate(name: name, uuid: entry.uuid, record: nil, forwards: entry.forwards)
            for family in Family.allCases {
                if let a = entry.address(family) { c.claims[family] = Claim(address: a, rank: .config, source: "config", held: false) }
            }
            result.append(c)
        }
        return result
    }

    /// The guest as planned (nil when nothing of it can be installed), the forwards that wait,
    /// and the forwards left out for good.
    func placed(_ settings: Settings, around: () -> Surroundings) -> (Guest?, [Forward], [LeftOut]) {
        var installed: [Forward] = [], waiting: [Forward] = [], notes: [LeftOut] = []
        // A network without <forward> lets its guests reach nothing beyond the bridge, and
        // nothing beyond it reach them: only the admin may open one, and says so.
        // Said at once, whether or not the address holds yet.
        let isolated = claims.values.map(\.address).sorted().first { around().isIsolated($0, interfaces: interfaces) }
        for f in forwards {
            let families = f.spec.hostAddress.map { [$0.family] } ?? Family.allCases
            if let isolated, f.origin == .metadata || !settings.isolatedForwards {
                let why = f.origin == .metadata ? "no metadata forward opens an isolated network"
                    : "config forwards open one only with settings.isolated-forwards = true"
                notes.append(LeftOut(guest: name, uuid: uuid, forward: f, reason: .isolated,
                                     message: "guest \(name): forward \(f.spec) is left out: \(isolated) is on an isolated network "
                                         + "(no <forward>), and \(why)"))
                continue
            }
            if families.contains(where: { granted[$0] != nil }) { installed.append(f); continue }
            if let bound = f.spec.hostAddress?.family, claims[bound] == nil, denied[bound] == nil,
               record?.addressSource != .pending, Family.allCases.contains(where: { granted[$0] != nil }) {
                // The guest has an address, only not of this family: a config error, not a wait.
                notes.append(LeftOut(guest: name, uuid: uuid, forward: f, reason: .family,
                                     message: "guest \(name): forward \(f.spec) is bound to an \(bound.label) host address, "
                                         + "but the guest has no \(bound.addressKey); left out"))
                continue
            }
            waiting.append(f)
        }
        let guest = installed.isEmpty ? nil
            : Guest(name: name, uuid: uuid, address4: granted[.ipv4], address6: granted[.ipv6], forwards: installed)
        return (guest, waiting, notes)
    }

    /// A line for the admin who opened an isolated network to this guest's config forwards.
    func isolationOpened(_ settings: Settings, around: () -> Surroundings) -> String? {
        guard settings.isolatedForwards, forwards.contains(where: { $0.origin == .config }),
              let isolated = granted.values.first(where: { around().isIsolated($0, interfaces: interfaces) }) else { return nil }
        return "guest \(name): its config forwards reach \(isolated) on an isolated network (no <forward>), because settings.isolated-forwards = true"
    }

    /// Local users' sockets an installed guest's forwards take the connections of.
    static func usersHidden(by guest: Guest, around: () -> Surroundings) -> [String] {
        guest.forwards.compactMap { f in
            let users = around().usersHidden(by: f.spec)
            return users.isEmpty ? nil : "guest \(guest.name): forward \(f.spec) takes the connections of a local user's socket listening on "
                + "\(users.joined(separator: ", ")); a user's socket never keeps a port from a guest"
        }
    }

    var waitReason: PendingReason {
        let reasons = Family.allCases.compactMap { denied[$0] }
        return reasons.isEmpty ? .lease : .refused(reasons)
    }
}

/// The address rule: each address to at most one guest, by authority.
enum Addresses {
    static func settle(_ candidates: inout [Candidate], config: Config, around: () -> Surroundings) {
        var byAddress: [IPAddress: [(index: Int, claim: Candidate.Claim)]] = [:]
        for (i, c) in candidates.enumerated() {
            for claim in c.claims.values { byAddress[claim.address, default: []].append((i, claim)) }
        }
        for i in candidates.indices {
            for (family, claim) in candidates[i].claims.sorted(by: { $0.key < $1.key }) {
                let others = (byAddress[claim.address] ?? []).filter { $0.index != i }
                if let refusal = refusal(of: claim, by: candidates[i], others: others, candidates: candidates, config: config, around: around) {
                    candidates[i].denied[family] = refusal
                } else {
                    candidates[i].granted[family] = claim.address
                }
            }
        }
    }

    /// Why `claim` does not hold, or nil when it does.
    private static func refusal(of claim: Candidate.Claim, by c: Candidate, others: [(index: Int, claim: Candidate.Claim)],
                                candidates: [Candidate], config: Config, around: () -> Surroundings) -> String? {
        let rivals = others.map { (who: "guest \(candidates[$0.index].name) (\($0.claim.source))", claim: $0.claim) }
        let disputed = { (named: [String], tail: String) in
            "guest \(c.name): its \(claim.source) address \(claim.address) is disputed with \(named.prefix(3).joined(separator: " and ")); " + tail
        }
        let wait = "forwards to it wait until the address is \(c.name)'s alone"
        // The admin's word: the config beats a static host; two of the same kind, neither.
        if claim.rank.isAdmin {
            let over = rivals.filter { $0.claim.rank >= claim.rank }
            return over.isEmpty ? nil : disputed(over.map(\.who), wait)
        }
        // A guest's claim. What the admin gives someone else is theirs, whether or not that
        // guest runs now.
        var admin = rivals.filter { $0.claim.rank.isAdmin }.map(\.who)
        let own = c.record.map { r in config.entries(named: r.name, uuid: r.uuid) }.map { [$0.byUUID, $0.byName].compactMap { $0 } } ?? []
        let claimed = Set(others.map { candidates[$0.index].name })
        for entry in config.guests where !own.contains(entry) && Family.allCases.contains(where: { entry.address($0) == claim.address }) {
            guard entry.name.map({ !claimed.contains($0) }) ?? true else { continue }
            admin.append("the config's \(entry.path) (\(entry.label))")
        }
        let macs = others.reduce(c.macs) { $0.union(candidates[$1.index].macs) }
        let bridges = around().bridges(for: claim.address, interfaces: c.interfaces)
        let records = around().holders(of: claim.address, except: macs, bridges: bridges)
        admin += records.filter { $0.rank.isAdmin }.map(\.who)
        if !admin.isEmpty { return disputed(admin, wait) }
        // The first holder keeps it: no lease, metadata, frame or tie takes it away.
        if claim.held { return nil }
        if let holder = rivals.first(where: { $0.claim.held }) {
            return "guest \(c.name): its \(claim.source) address \(claim.address) is held by \(holder.who), which had it first; " + wait
        }
        // A newcomer: refused by any record or sighting that makes the address another's, and
        // by another newcomer as good as it or better.
        let against = records.filter { $0.rank >= claim.rank || $0.rank == .evidence }.map(\.who)
            + rivals.filter { $0.claim.rank >= claim.rank }.map(\.who)
        if !against.isEmpty { return disputed(against, wait) }
        // A guest's own word (metadata in one command, a DHCP request with any MAC in it)
        // counts once the host has seen the guest use the address, at its own MAC, on its own
        // network, and the guest answers the host for it there: the host would deliver the
        // forward's packets there. Otherwise a guest could name another's address the host has
        // not met yet, and reach it once it has.
        if !bridges.isEmpty, !around().uses(claim.address, at: c.macs, on: bridges) {
            let at = c.macs.map(\.value).sorted().joined(separator: ", ")
            return "guest \(c.name): its \(claim.source) address \(claim.address) is not yet seen in use at its MAC (\(at)) "
                + "on \(bridges.sorted().joined(separator: ", ")); "
                + "forwards to it wait until the host has seen it there and the guest answers for it"
        }
        return nil
    }
}

/// The port rule: each host port to at most one forward.
enum Ports {
    static func settle(_ candidates: inout [Candidate], newcomer: DomainUUID?, into result: inout Resolver.Result) {
        var owners: [(candidate: Int, forward: Int)] = []
        var guests: [Guest] = []
        for (i, c) in candidates.enumerated() {
            // Only forwards that will be installed can clash.
            let forwards = c.forwards.enumerated().filter { _, f in
                (f.spec.hostAddress.map { [$0.family] } ?? Family.allCases).contains { c.granted[$0] != nil }
            }
            for (j, _) in forwards { owners.append((i, j)) }
            guests.append(Guest(name: c.name, uuid: c.uuid, address4: nil, address6: nil, forwards: forwards.map(\.element)))
        }
        var dropped = Set<Int>()   // indices into owners
        var reasons: [Int: (LeftOut.Reason, String)] = [:]
        func leave(_ index: Int, _ reason: LeftOut.Reason, _ message: String, say: Bool = true) {
            dropped.insert(index)
            if reasons[index] == nil { reasons[index] = (reason, message) }
            if say { result.warnings.append(message) }
        }
        for clash in Conflicts.clashes(in: guests) {
            let a = owners[clash.first], b = owners[clash.second]
            let ca = candidates[a.candidate], cb = candidates[b.candidate]
            let fa = ca.forwards[a.forward], fb = cb.forwards[b.forward]
            let isNew = { (c: Candidate) in newcomer != nil && c.uuid == newcomer }
            if a.candidate != b.candidate && (isNew(ca) || isNew(cb)) {
                let (mine, theirs, mineIndex, theirIndex) = isNew(ca) ? (fa, fb, clash.first, clash.second) : (fb, fa, clash.second, clash.first)
                let (me, them) = isNew(ca) ? (ca.name, cb.name) : (cb.name, ca.name)
                switch (mine.origin, theirs.origin) {
                case (.config, .config):
                    // The admin's own clash: the one reason a start is refused.
                    result.refusals.append(clash.message)
                case (.config, .metadata):
                    leave(theirIndex, .portTaken, clash.message + "; the config outranks the metadata of guest \(them), whose forward is left out")
                case (.metadata, _):
                    leave(mineIndex, .portTaken, clash.message + "; guest \(them) holds the port, so \(mine.spec) of guest \(me) is left out")
                }
                continue
            }
            switch (fa.origin, fb.origin) {
            case (.config, .metadata):
                leave(clash.second, .portTaken, clash.message + "; the config outranks metadata, so \(fb.spec) of guest \(cb.name) is left out")
            case (.metadata, .config):
                leave(clash.first, .portTaken, clash.message + "; the config outranks metadata, so \(fa.spec) of guest \(ca.name) is left out")
            case (.metadata, .metadata) where a.candidate == b.candidate:
                leave(clash.second, .portTaken, clash.message + "; the second is left out")
            case (.metadata, .metadata):
                // The forward installed already keeps the port, else the one that was there
                // first: no guest owner's later edit takes it from another guest. Of two as old,
                // neither.
                let ha = ca.record?.holds.forwards.contains(fa) == true, hb = cb.record?.holds.forwards.contains(fb) == true
                let sa = ca.record?.metadata.since[fa] ?? .max, sb = cb.record?.metadata.since[fb] ?? .max
                if (ha && !hb) || (ha == hb && sa < sb) {
                    leave(clash.second, .portTaken,
                          clash.message + "; guest \(ca.name)'s forward was there first, so \(fb.spec) of guest \(cb.name) is left out")
                } else if (hb && !ha) || (ha == hb && sb < sa) {
                    leave(clash.first, .portTaken,
                          clash.message + "; guest \(cb.name)'s forward was there first, so \(fa.spec) of guest \(ca.name) is left out")
                } else {
                    leave(clash.first, .portTaken, clash.message + "; neither is installed")
                    leave(clash.second, .portTaken, clash.message + "; neither is installed", say: false)
                }
            case (.config, .config):
                dropped.formUnion([clash.first, clash.second])
                for index in [clash.first, clash.second] where reasons[index] == nil {
                    reasons[index] = (.configConflict, clash.message + "; neither is installed")
                }
                result.conflicts.append(clash.message)
            }
        }
        var drop: [Int: [Int]] = [:]
        for index in dropped.sorted() {
            let (i, j) = owners[index]
            drop[i, default: []].append(j)
            if let (reason, message) = reasons[index], candidates[i].record != nil {
                result.leftOut.append(LeftOut(guest: candidates[i].name, uuid: candidates[i].uuid, forward: candidates[i].forwards[j],
                                              reason: reason, message: message))
            }
        }
        for (i, forwards) in drop { for j in forwards.sorted(by: >) { candidates[i].forwards.remove(at: j) } }
    }
}
