import FoundationEssentials
#if canImport(Glibc)
import Glibc
#endif
import PortFwdCore
import PortFwdSystem

/// What `status` shows: each planned forward beside the counters the kernel holds for it, the
/// guests still waiting for an address, and whether the kernel matches the plan. `healthy` is
/// what the exit status says, so a monitoring system can alert on it alone.
public struct StatusReport: Codable, Sendable {
    public struct Row: Codable, Sendable {
        public let guest: String
        /// The domain's UUID; nil for a configured guest that does not run (`apply --all`).
        public let uuid: String?
        public let family: String
        public let spec: String
        public let proto: String
        /// nil: every local address.
        public let hostAddress: String?
        public let hostPort: Int
        public let hostPortLast: Int
        public let guestPort: Int
        public let guestPortLast: Int
        public let sources: [String]
        public let target: String
        /// `config` or `metadata`.
        public let origin: String
        /// `explicit`, `dhcp-host`, `lease`, or `config` for a guest covered by `--all` only.
        public let addressSource: String
        /// Packets and bytes of its connections (both directions) as they entered the forward
        /// path after our DNAT; nil when nothing is installed.
        public let packets: UInt64?
        public let bytes: UInt64?
        /// The same, as they left it past every other firewall: fewer than `packets` means
        /// something between dropped some.
        public let deliveredPackets: UInt64?
        public let deliveredBytes: UInt64?
        /// The chains on the forward hook that surely drop its traffic: it is turned away.
        public let turnedAwayBy: [String]

        enum CodingKeys: String, CodingKey {
            case guest, uuid, family, spec, proto, sources, target, origin, packets, bytes
            case turnedAwayBy = "turned_away_by"
            case hostAddress = "host_address", hostPort = "host_port", hostPortLast = "host_port_last"
            case guestPort = "guest_port", guestPortLast = "guest_port_last", addressSource = "address_source"
            case deliveredPackets = "delivered_packets", deliveredBytes = "delivered_bytes"
        }

        /// Packets that entered the forward path and never left it.
        public var undelivered: UInt64? {
            guard let packets, let deliveredPackets else { return nil }
            return packets > deliveredPackets ? packets - deliveredPackets : 0
        }
    }

    public struct Pending: Codable, Sendable {
        public let guest: String
        public let uuid: String?
        /// The forwards that wait.
        public let forwards: [String]
        public let addressSource: String
        public let reason: String

        enum CodingKeys: String, CodingKey { case guest, uuid, forwards, reason, addressSource = "address_source" }
    }

    /// A forward of a running guest the plan leaves out, and why (`LeftOut`).
    public struct Refused: Codable, Sendable {
        public let guest: String
        public let uuid: String?
        public let spec: String
        /// `policy`, `host-service`, `port-taken`, `config-conflict`, `isolated`, `family`.
        public let reason: String
        public let message: String
        /// Whether it makes `status` unhealthy: only the admin's own config errors do; what a
        /// policy or a rule of precedence leaves out by design only informs.
        public let pages: Bool

        /// Reasons that page: a config that cannot be installed as written.
        public static let paging: Set<LeftOut.Reason> = [.configConflict, .family]
    }

    /// A chain on the forward hook that would drop our traffic (`Suspect`).
    public struct SuspectRow: Codable, Sendable {
        /// `table inet filter chain forward`.
        public let place: String
        /// `policy drop`, or the rule (and the rules it jumps to) that drops.
        public let rule: String
        /// It drops the traffic whoever the client: the forwards are turned away.
        public let sure: Bool
        /// `web1 8080:80/tcp`.
        public let forwards: [String]
        public let traffic: [String]
    }

    /// A configured guest that does not run, shown by `status --all` (as `virsh list --all`).
    public struct Idle: Codable, Sendable {
        public let guest: String
        public let forwards: [String]

        public init(guest: String, forwards: [String]) {
            self.guest = guest
            self.forwards = forwards
        }
    }

    /// The watch service, as far as the state directory tells.
    public struct Service: Codable, Sendable {
        public let running: Bool
        /// Its repairs of other programs' changes since it started, as it last wrote them.
        public let repairs: UInt64?

        public init(running: Bool, repairs: UInt64?) {
            self.running = running
            self.repairs = repairs
        }
    }

    public let installed: Bool
    public let mode: String
    public let backend: Settings.Backend
    public let healthy: Bool
    /// One line per problem: drift, a stale record, a pending guest, a firewall that blocks.
    public let problems: [String]
    /// What the plan left out or should be known (metadata the policy refuses, a host service
    /// a forward hides), a few lines at most; no cause for an unhealthy exit.
    public let warnings: [String]
    public let forwards: [Row]
    public let pending: [Pending]
    /// Forwards of running guests the plan leaves out.
    public let leftOut: [Refused]
    /// Chains on the forward hook that drop, or may drop, our traffic.
    public let suspects: [SuspectRow]
    public let notRunning: [Idle]
    public let service: Service

    enum CodingKeys: String, CodingKey {
        case installed, mode, backend, healthy, problems, warnings, forwards, pending, service, suspects
        case notRunning = "not_running", leftOut = "left_out"
    }

    public init(plan: Plan, mode: Mode, backend: Settings.Backend, records: [RunningGuest], pending: [PendingGuest],
                counters: Counters?, problems: [String], warnings: [String] = [], guests filter: Set<String>? = nil,
                notRunning: [Idle] = [], service: Service = Service(running: false, repairs: nil),
                leftOut: [LeftOut] = [], health: ForwardHealth? = nil) {
        self.notRunning = notRunning.filter { filter?.contains($0.guest) ?? true }
        self.service = service
        self.warnings = LogText.capped(warnings + (health?.warnings ?? []))
        installed = counters != nil
        self.mode = mode.rawValue
        self.backend = backend
        let refused = leftOut.filter { filter?.contains($0.guest.value) ?? true }.map {
            Refused(guest: $0.guest.value, uuid: $0.uuid?.value, spec: $0.forward.spec.description, reason: $0.reason.rawValue,
                    message: $0.message, pages: Refused.paging.contains($0.reason))
        }
        self.leftOut = refused
        let all = problems + (health?.problems ?? []) + refused.filter(\.pages).map(\.message)
        self.problems = all
        healthy = all.isEmpty
        suspects = (health?.suspects ?? []).map {
            SuspectRow(place: $0.place, rule: $0.what, sure: $0.sure, forwards: $0.forwards.map { "\($0.guest) \($0.forward.spec)" },
                       traffic: $0.traffic.sorted())
        }
        let turnedAway = health?.turnedAway ?? [:]
        let sources = Dictionary(records.map { ($0.uuid, $0.addressSource.rawValue) }, uniquingKeysWith: { a, _ in a })
        forwards = plan.entries.filter { filter?.contains($0.guest.value) ?? true }.map { e in
            // Counters live per forward, and count only for the guest that owns them.
            let counter = counters?[ForwardKey(e)].flatMap { $0.owner == nil || $0.owner == e.owner ? $0 : nil }
            let anySource = e.sources == [Network.any(e.family)]
            return Row(guest: e.guest.value, uuid: e.uuid?.value, family: e.family.rawValue, spec: e.forward.spec.description,
                       proto: e.proto.rawValue, hostAddress: e.hostAddress?.description, hostPort: Int(e.hostPorts.lower),
                       hostPortLast: Int(e.hostPorts.upper), guestPort: Int(e.guestPorts.lower), guestPortLast: Int(e.guestPorts.upper),
                       sources: anySource ? [] : e.sources.map(\.description), target: "\(e.family.bracketed(e.guestAddress)):\(e.guestPorts)",
                       origin: e.forward.origin.rawValue, addressSource: e.uuid.flatMap { sources[$0] } ?? "config",
                       packets: counter?.dnat.packets, bytes: counter?.dnat.bytes,
                       deliveredPackets: counter?.delivered?.packets, deliveredBytes: counter?.delivered?.bytes,
                       turnedAwayBy: turnedAway[e] ?? [])
        }
        self.pending = pending.filter { filter?.contains($0.guest.name.value) ?? true }.map {
            Pending(guest: $0.guest.name.value, uuid: $0.guest.uuid.value, forwards: $0.forwards.map(\.spec.description),
                    addressSource: $0.guest.addressSource.rawValue, reason: $0.reason.description)
        }
    }

    public var table: String {
        // PACKETS entered the forward path after our DNAT, DELIVERED left it past every other
        // firewall; BYTES of what entered.
        var lines = [["GUEST", "SPEC", "TARGET", "SOURCES", "ADDRESS", "PACKETS", "DELIVERED", "BYTES"]]
        for r in forwards {
            lines.append([LogText.line(r.guest), r.spec, r.target, r.sources.isEmpty ? "any" : r.sources.joined(separator: ","), r.addressSource,
                          r.packets.map(String.init) ?? "-", r.deliveredPackets.map(String.init) ?? "-", r.bytes.map(String.init) ?? "-"])
        }
        // What waits, as `incus network forward show` shows it: each forward, with no target yet.
        for p in pending {
            for spec in p.forwards { lines.append([LogText.line(p.guest), spec, "-", "-", "pending", "-", "-", "-"]) }
        }
        for refused in leftOut {
            lines.append([LogText.line(refused.guest), refused.spec, "-", "-", "left out: \(refused.reason)", "-", "-", "-"])
        }
        for idle in notRunning {
            for spec in idle.forwards { lines.append([LogText.line(idle.guest), spec, "-", "-", "not running", "-", "-", "-"]) }
        }
        let widths = (0..<lines[0].count).map { i in lines.map { $0[i].count }.max()! }
        var text = ""
        for line in lines {
            var row = zip(line, widths).map { $0.0 + String(repeating: " ", count: max(0, $0.1 - $0.0.count)) }.joined(separator: "  ")
            while row.last == " " { row.removeLast() }
            text += row + "\n"
        }
        return text
    }
}

extension Reconciler {
    /// The status of what is recorded now: the plan, its counters, and every way in which
    /// the kernel or the records differ from what they should be.
    /// - Parameter known: problems the caller found already (a config that does not parse).
    /// - Parameter showAll: also the configured guests that do not run, as `virsh list --all`.
    public func status(showAll: Bool = false, guests: Set<String>? = nil, problems known: [String] = []) throws(PortFwdError) -> StatusReport {
        let (outcome, records) = try current()
        var problems = known
        let chosen = backends
        var counters: Counters?
        var health: ForwardHealth?
        if outcome.mode == .off {
            problems.append("forwards are off since libvirt-portfwd flush; libvirt-portfwd apply turns them on")
        } else {
            let inspected = try chosen.selected.inspect(outcome.plan)
            problems += inspected.drift.map(\.description)
            counters = inspected.counters
            if try host.firewalldRejectsForwards() == true { problems.append(Firewalld.strictProblem) }
            // The whole way through the forward hook, not only our table: who else drops.
            health = ForwardHealth(entries: outcome.plan.entries, counters: counters, suspects: try suspects(outcome.plan))
        }
        problems += staleRecords(records).map { "the record of guest \($0.name) is stale: libvirt does not run it (libvirt-portfwd apply drops it)" }
        // Only the service moves a forward when its guest's lease changes: without it, the
        // address may be another guest's by now.
        let service = StatusReport.Service(running: store.serviceRunning, repairs: store.serviceRunning ? store.serviceRepairs : nil)
        // A record that does not read, and a local user's socket an installed forward takes
        // the connections of: each is a problem, not a note.
        problems += outcome.unreadable + outcome.warnings.filter { $0.kind == .userSocket }.map(\.message)
        var warnings = outcome.warnings.filter { $0.kind != .userSocket && $0.kind != .record }.map(\.message)
        if !service.running {
            warnings.append("the libvirt-portfwd service is not running: nothing repairs other programs' changes or follows DHCP leases "
                + "(systemctl enable --now libvirt-portfwd)")
            let leased = records.filter { r in r.addressSource == .lease && outcome.plan.guests.contains { $0.uuid == r.uuid } }
            problems += leased.map {
                "guest \($0.name) follows a DHCP lease, but the libvirt-portfwd service is not running: "
                    + "nothing moves its forwards when the lease changes"
            }
        }
        problems += outcome.pending.map { p in
            switch p.reason {
            case .lease: "guest \(p.guest.name) is pending: its forwards wait for a DHCP lease (the libvirt-portfwd service installs them)"
            case .refused: "guest \(p.guest.name) is pending: \(p.reason)"
            }
        }
        var idle: [StatusReport.Idle] = []
        if showAll {
            let shown = Set(outcome.plan.guests.compactMap(\.uuid)), waiting = Set(outcome.pending.map(\.guest.uuid))
            let named = Set(outcome.plan.guests.map(\.name) + outcome.pending.map(\.guest.name))
            for g in config.guests where !g.forwards.isEmpty {
                if let uuid = g.uuid, shown.contains(uuid) || waiting.contains(uuid) { continue }
                if g.uuid == nil, let name = g.name, named.contains(name) { continue }
                idle.append(StatusReport.Idle(guest: g.label, forwards: g.forwards.map(\.spec.description)))
            }
        }
        let paging = Set(outcome.leftOut.filter { StatusReport.Refused.paging.contains($0.reason) }.map(\.message))
        return StatusReport(plan: outcome.plan, mode: outcome.mode, backend: chosen.selected.name, records: records, pending: outcome.pending,
                            counters: counters, problems: problems,
                            warnings: warnings.filter { !paging.contains($0) && !paging.contains($0 + "; neither is installed") },
                            guests: guests, notRunning: idle, service: service, leftOut: outcome.leftOut, health: health)
    }

    /// Records of domains libvirt does not report running, past the start grace.
    func staleRecords(_ records: [RunningGuest]) -> [RunningGuest] {
        guard libvirt.knowsRunningDomains else { return [] }
        let found = libvirt.runningDomains()
        let running = Set(found.domains.map(\.uuid) + found.unreadable)
        let now = Int64(clock().timeIntervalSince1970)
        return records.filter { isStale($0, running: running, now: now) }
    }
}
