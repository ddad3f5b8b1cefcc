/// Combines the config with what is running into the guests to plan for. Pure, and a function
/// of its inputs' content alone: the records are taken in UUID order, whatever order they
/// started in, so re-running any event converges on the same plan.
///
/// Two rules hold whatever the order of events, and whatever the source:
/// - **An address belongs to at most one guest.** Sources the admin controls (the config, a
///   network's static DHCP host) outrank sources a guest controls (its metadata, its lease).
///   An address claimed by two guests goes to the one claim that outranks every other; when
///   there is none, to nobody. A guest whose address is disputed or refused stays pending,
///   and the reason names the other guest.
/// - **A host port belongs to at most one forward.** Config forwards outrank metadata ones. A
///   guest that starts may not take a port another guest holds: that conflict is the one
///   reason a start is refused (`refusals`). Between guests already running, a metadata
///   forward that clashes is left out, never the plan as a whole.
public enum Resolver {
    public struct Result: Sendable {
        /// In UUID order; configured guests that do not run (`apply --all`) after them.
        public var guests: [Guest] = []
        /// One line each: metadata the policy refuses now, disputes, forwards left out.
        public var warnings: [String] = []
        /// Running guests with forwards that wait: for a DHCP lease, or for an address that
        /// is theirs alone.
        public var pending: [PendingGuest] = []
        /// Conflicts of `newcomer`'s forwards with another guest's: the start is refused.
        public var refusals: [String] = []
        /// Conflicts between config forwards of guests already covered: both are left out.
        /// `apply` and `check` refuse such a config; the hooks and the service warn.
        public var conflicts: [String] = []
        /// Every forward of a running guest the plan leaves out, with its reason (pending
        /// forwards, which wait for an address, are in `pending` instead).
        public var leftOut: [LeftOut] = []
    }

    /// - Parameters:
    ///   - all: also every configured guest that is not running (`apply --all`).
    ///   - newcomer: a guest starting (`prepare`, `start`): conflicts of its forwards are refusals.
    ///   - surroundings: libvirt's networks, leases and the host's addresses, for the address
    ///     rule; asked for only when a guest-controlled address is claimed.
    public static func resolve(config: Config, running: [RunningGuest], all: Bool, newcomer: DomainUUID? = nil,
                               surroundings: @autoclosure () -> Surroundings = Surroundings()) -> Result {
        var result = Result()
        var known: Surroundings?
        let around = { () -> Surroundings in
            if let known { return known }
            known = surroundings()
            return known!
        }
        var candidates = Candidate.running(config: config, running: running, around: around, warnings: &result.warnings,
                                           leftOut: &result.leftOut)
        if all { candidates += Candidate.configured(config: config, besides: candidates, warnings: &result.warnings) }
        Addresses.settle(&candidates, config: config, around: around)
        Ports.settle(&candidates, newcomer: newcomer, into: &result)
        for candidate in candidates {
            let (guest, waiting, notes) = candidate.placed()
            result.warnings += Family.allCases.compactMap { candidate.denied[$0] } + notes.map(\.message)
            if candidate.record != nil { result.leftOut += notes }
            if let guest { result.guests.append(guest) }
            if let record = candidate.record, !waiting.isEmpty {
                result.pending.append(PendingGuest(guest: record, forwards: waiting, reason: candidate.waitReason))
            }
        }
        return result
    }

    /// Config forwards first, then metadata ones (when the policy allows them now); exact
    /// duplicates collapse, so declaring a forward in both places is not a conflict with itself.
    static func forwards(_ entry: GuestConfig?, _ r: RunningGuest, _ settings: Settings, around: () -> Surroundings,
                         warnings: inout [String], leftOut: inout [LeftOut]) -> [Forward] {
        var forwards = entry?.forwards ?? []
        for f in forwards {
            let hidden = around().hidden(by: f.spec)
            if !hidden.isEmpty { warnings.append("guest \(r.name): forward \(f.spec) hides a host service listening on \(hidden.joined(separator: ", "))") }
        }
        guard settings.metadata, !r.metadata.forwards.isEmpty else { return forwards }
        let problems = MetadataPolicy(settings: settings).forwardProblems(r.metadata.forwards, guest: r.name)
        guard problems.isEmpty else {
            warnings += problems.map { "\($0); its metadata forwards are not installed" }
            let message = problems.joined(separator: "; ")
            leftOut += r.metadata.forwards.map { LeftOut(guest: r.name, uuid: r.uuid, forward: $0, reason: .policy, message: message) }
            return forwards
        }
        for f in r.metadata.forwards where !forwards.contains(where: { $0.spec == f.spec && $0.sources == f.sources }) {
            // Metadata may not take a port a host service listens on: only the admin may.
            let hidden = around().hidden(by: f.spec)
            if !hidden.isEmpty {
                let message = "guest \(r.name): metadata forward \(f.spec) would hide a host service listening on \(hidden.joined(separator: ", ")); left out"
                warnings.append(message)
                leftOut.append(LeftOut(guest: r.name, uuid: r.uuid, forward: f, reason: .hostService, message: message))
                continue
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
    /// Why, in a few words: "waits for a DHCP lease", or the dispute that holds it.
    public let reason: String

    public init(guest: RunningGuest, forwards: [Forward], reason: String) {
        self.guest = guest
        self.forwards = forwards
        self.reason = reason
    }
}

/// One guest on its way into the plan.
struct Candidate {
    /// Who vouches for an address, highest first.
    enum Rank: Int, Comparable {
        case guest = 0, staticHost = 1, config = 2
        static func < (a: Rank, b: Rank) -> Bool { a.rawValue < b.rawValue }
    }

    struct Claim {
        let address: IPAddress
        let rank: Rank
        /// `config`, `static DHCP host`, `metadata`, `lease`.
        let source: String
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

    static func running(config: Config, running: [RunningGuest], around: () -> Surroundings, warnings: inout [String],
                        leftOut: inout [LeftOut]) -> [Candidate] {
        let settings = config.settings
        let policy = AddressPolicy(settings: settings)
        var result: [Candidate] = []
        for r in running.sorted(by: { $0.uuid < $1.uuid }) {
            let entry = config.guest(named: r.name, uuid: r.uuid)
            var c = Candidate(name: r.name, uuid: r.uuid, record: r, forwards: Resolver.forwards(entry, r, settings, around: around, warnings: &warnings, leftOut: &leftOut))
            if c.forwards.isEmpty { continue }
            for family in Family.allCases {
                if let a = entry?.address(family) {
                    c.claims[family] = Claim(address: a, rank: .config, source: "config")
                } else if r.addressSource == .dhcpHost, let a = r.address(family) {
                    c.claims[family] = Claim(address: a, rank: .staticHost, source: "static DHCP host")
                } else if r.addressSource == .explicit, let a = r.metadata.address(family) {
                    guard settings.metadata else {
                        c.denied[family] = "guest \(r.name): metadata is off (settings.metadata = false), so its metadata \(family.addressKey) \(a) is not used"
                        continue
                    }
                    if let problem = policy.problem(a, source: .metadata, guest: r.name, interfaces: r.interfaces, surroundings: around()) {
                        c.denied[family] = problem
                    } else {
                        c.claims[family] = Claim(address: a, rank: .guest, source: "metadata")
                    }
                } else if r.addressSource == .lease, let a = r.address(family) {
                    if let problem = policy.problem(a, source: .lease, guest: r.name, interfaces: r.interfaces, surroundings: around()) {
                        c.denied[family] = problem
                    } else {
                        c.claims[family] = Claim(address: a, rank: .guest, source: "lease")
                    }
                }
            }
            result.append(c)
        }
        return result
    }

    /// Every configured guest with forwards that is not among `besides`.
    static func configured(config: Config, besides: [Candidate], warnings: inout [String]) -> [Candidate] {
        var result: [Candidate] = []
        let covered = besides.flatMap { c in
            c.record.map { r in config.entries(named: r.name, uuid: r.uuid) }.map { [$0.byUUID, $0.byName].compactMap { $0 } } ?? []
        }
        for entry in config.guests where !entry.forwards.isEmpty && !covered.contains(entry) {
            guard entry.address4 != nil || entry.address6 != nil else {
                warnings.append("\(entry.path) (\(entry.label)): skipped, no address in the config (addresses are only discovered when the guest starts)")
                continue
            }
            // A uuid-only entry has no name; the uuid stands in for comments and messages.
            guard let name = entry.name ?? (try? GuestName(entry.uuid?.value ?? entry.path)) else { continue }
            var c = Candidate(name: name, uuid: entry.uuid, record: nil, forwards: entry.forwards)
            for family in Family.allCases { if let a = entry.address(family) { c.claims[family] = Claim(address: a, rank: .config, source: "config") } }
            result.append(c)
        }
        return result
    }

    /// The guest as planned (nil when nothing of it can be installed), the forwards that wait,
    /// and lines about forwards left out for good.
    func placed() -> (Guest?, [Forward], [LeftOut]) {
        var installed: [Forward] = [], waiting: [Forward] = [], notes: [LeftOut] = []
        for f in forwards {
            let families = f.spec.hostAddress.map { [$0.family] } ?? Family.allCases
            if families.contains(where: { granted[$0] != nil }) { installed.append(f); continue }
            if let bound = f.spec.hostAddress?.family, claims[bound] == nil, denied[bound] == nil,
               record?.addressSource != .pending, Family.allCases.contains(where: { granted[$0] != nil }) {
                // The guest has an address, only not of this family: a config error, not a wait.
                notes.append(LeftOut(guest: name, uuid: uuid, forward: f, reason: .family,
                                     message: "guest \(name): forward \(f.spec) is bound to an \(bound.label) host address, but the guest has no \(bound.addressKey); left out"))
                continue
            }
            waiting.append(f)
        }
        let guest = installed.isEmpty ? nil
            : Guest(name: name, uuid: uuid, address4: granted[.ipv4], address6: granted[.ipv6], forwards: installed)
        return (guest, waiting, notes)
    }

    var waitReason: String {
        let reasons = Family.allCases.compactMap { denied[$0] }
        return reasons.isEmpty ? "waits for a DHCP lease" : reasons.joined(separator: "; ")
    }
}

/// The address rule: each address to at most one guest.
enum Addresses {
    static func settle(_ candidates: inout [Candidate], config: Config, around: () -> Surroundings) {
        var byAddress: [IPAddress: [(index: Int, claim: Candidate.Claim)]] = [:]
        for (i, c) in candidates.enumerated() {
            for claim in c.claims.values { byAddress[claim.address, default: []].append((i, claim)) }
        }
        for i in candidates.indices {
            for (family, claim) in candidates[i].claims.sorted(by: { $0.key < $1.key }) {
                var rivals: [(who: String, rank: Candidate.Rank)] = (byAddress[claim.address] ?? []).filter { $0.index != i }.map {
                    ("guest \(candidates[$0.index].name) (\($0.claim.source))", $0.claim.rank)
                }
                // What the network itself says of the address, for claims a guest made: a
                // static host of another MAC, or another MAC's current lease.
                if claim.rank == .guest {
                    // Not again for a MAC of a rival guest named already.
                    let named = (byAddress[claim.address] ?? []).reduce(candidates[i].macs) { $0.union(candidates[$1.index].macs) }
                    rivals += around().holders(of: claim.address, except: named, seenOnTheWire: claim.source == "metadata")
                        .map { ($0.who, $0.trusted ? .staticHost : .guest) }
                    // The config gives an address to its guest whether or not that guest runs now.
                    let own = candidates[i].record.map { r in config.entries(named: r.name, uuid: r.uuid) }.map { [$0.byUUID, $0.byName].compactMap { $0 } } ?? []
                    let claimed = Set((byAddress[claim.address] ?? []).map { candidates[$0.index].name })
                    for entry in config.guests where !own.contains(entry) && Family.allCases.contains(where: { entry.address($0) == claim.address }) {
                        guard entry.name.map({ !claimed.contains($0) }) ?? true else { continue }
                        rivals.append(("the config's \(entry.path) (\(entry.label))", .config))
                    }
                }
                let top = rivals.map(\.rank).max()
                if let top, top >= claim.rank {
                    let named = rivals.filter { $0.rank >= claim.rank }.map(\.who).prefix(3)
                    candidates[i].denied[family] = "guest \(candidates[i].name): its \(claim.source) address \(claim.address) is disputed with \(named.joined(separator: " and ")); "
                        + "forwards to it wait until the address is \(candidates[i].name)'s alone"
                } else {
                    candidates[i].granted[family] = claim.address
                }
            }
        }
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
        func leave(_ index: Int, _ reason: LeftOut.Reason, _ message: String) {
            dropped.insert(index)
            if reasons[index] == nil { reasons[index] = (reason, message) }
        }
        for clash in Conflicts.clashes(in: guests) {
            let a = owners[clash.first], b = owners[clash.second]
            let ca = candidates[a.candidate], cb = candidates[b.candidate]
            let fa = ca.forwards[a.forward], fb = cb.forwards[b.forward]
            let isNew = { (c: Candidate) in newcomer != nil && c.uuid == newcomer }
            if a.candidate != b.candidate && (isNew(ca) || isNew(cb)) {
                let (mine, theirs, other) = isNew(ca) ? (fa, fb, clash.second) : (fb, fa, clash.first)
                if mine.origin == .config && theirs.origin == .metadata {
                    let message = clash.message + "; the config outranks the metadata of guest \(candidates[owners[other].candidate].name), whose forward is left out"
                    leave(other, .portTaken, message)
                    result.warnings.append(message)
                } else {
                    result.refusals.append(clash.message)
                }
                continue
            }
            switch (fa.origin, fb.origin) {
            case (.config, .metadata):
                let message = clash.message + "; the config outranks metadata, so \(fb.spec) of guest \(cb.name) is left out"
                leave(clash.second, .portTaken, message)
                result.warnings.append(message)
            case (.metadata, .config):
                let message = clash.message + "; the config outranks metadata, so \(fa.spec) of guest \(ca.name) is left out"
                leave(clash.first, .portTaken, message)
                result.warnings.append(message)
            case (.metadata, .metadata) where a.candidate == b.candidate:
                let message = clash.message + "; the second is left out"
                leave(clash.second, .portTaken, message)
                result.warnings.append(message)
            case (.metadata, .metadata):
                // The forward that was there first keeps the port: no guest owner's later edit
                // takes it from another guest. Of two as old, neither.
                let sa = ca.record?.metadata.since[fa] ?? .max, sb = cb.record?.metadata.since[fb] ?? .max
                if sa < sb {
                    let message = clash.message + "; guest \(ca.name)'s forward was there first, so \(fb.spec) of guest \(cb.name) is left out"
                    leave(clash.second, .portTaken, message)
                    result.warnings.append(message)
                } else if sb < sa {
                    let message = clash.message + "; guest \(cb.name)'s forward was there first, so \(fa.spec) of guest \(ca.name) is left out"
                    leave(clash.first, .portTaken, message)
                    result.warnings.append(message)
                } else {
                    let message = clash.message + "; neither is installed"
                    leave(clash.first, .portTaken, message)
                    leave(clash.second, .portTaken, message)
                    result.warnings.append(message)
                }
            case (.config, .config):
                leave(clash.first, .configConflict, clash.message + "; neither is installed")
                leave(clash.second, .configConflict, clash.message + "; neither is installed")
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
