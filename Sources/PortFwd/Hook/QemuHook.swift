import FoundationEssentials
#if canImport(Glibc)
import Glibc
#endif
import PortFwdCore
import PortFwdSystem

/// libvirt's qemu hook: `hook qemu GUEST OP SUBOP EXTRA` with the domain XML on stdin.
/// Everything comes from stdin and libvirt's files: calling libvirt from a hook deadlocks.
/// Nothing is ever printed to stdout (migrate and restore would take it for XML).
public struct QemuHook: Sendable {
    public let reconciler: Reconciler
    public let log: Log

    public init(reconciler: Reconciler, log: Log) {
        self.reconciler = reconciler
        self.log = log
    }

    /// The domain XML as read from stdin: `complete` is false when it was longer than the
    /// parser takes, and only its beginning was kept.
    public struct Input: Sendable {
        public let bytes: [UInt8]
        public let complete: Bool

        public init(bytes: [UInt8], complete: Bool = true) {
            self.bytes = bytes
            self.complete = complete
        }
    }

    /// Handles one event and returns the exit status for libvirt (see `HookOperation`).
    public func handle(guest: String, operation: HookOperation, input: Input) -> Int32 {
        let started = Date()
        let context = "guest \(guest) \(operation)"
        do {
            let outcome: Outcome?
            let uuid: DomainUUID?
            switch operation.action {
            case .none: return 0
            case .forget:
                (outcome, uuid) = forget(guest, input)
            case .check, .record, .rerecord:
                (outcome, uuid) = try take(guest, operation, input)
            }
            guard let outcome else { return 0 }
            log.warnings(outcome.warnings.map(\.message), prefix: "\(context): ")
            if let fellBack = outcome.fellBack { log.error("\(context): \(fellBack)") }
            log.info("\(context): \(summary(outcome, uuid)), \(Int(Date().timeIntervalSince(started) * 1000)) ms")
            return 0
        } catch {
            // Only a clash of this guest's own forwards with another running guest's refuses
            // its start; anything else is said loudly, and the guest starts.
            if operation.mayRefuse && error.code == .conflict {
                log.error("cannot start guest \(guest): \(error.oneLine)")
                return 1
            }
            log.error("\(context): \(error.oneLine)" + (operation.mayRefuse ? "; the guest starts without its forwards" : ""))
            return 0
        }
    }

    /// What happened to this guest, in a few words: "2 forwards installed", "pending: ...".
    private func summary(_ outcome: Outcome, _ uuid: DomainUUID?) -> String {
        if let pending = outcome.pending.first(where: { $0.guest.uuid == uuid }) {
            let count = outcome.plan.guests.first { $0.uuid == uuid }?.forwards.count ?? 0
            return "\(count) forwards, \(pending.forwards.count) pending: \(pending.reason)"
        }
        return "\(outcome.plan.guests.first { $0.uuid == uuid }?.forwards.count ?? 0) forwards"
    }

    /// Starting and reconnecting: the domain is read whole. An XML that does not parse (a
    /// guest owner can make it so) costs this guest its forwards, never its start.
    private func take(_ guest: String, _ operation: HookOperation, _ input: Input) throws(PortFwdError) -> (Outcome?, DomainUUID?) {
        guard input.complete else {
            throw PortFwdError(.invalidInput, "the domain XML is larger than \(XMLParser.maximumSize) bytes; refusing to read it")
        }
        let domain = try Domain.parse(Data(input.bytes))
        let (taken, notes) = reconciler.intake.take(domain, surroundings: reconciler.surroundings)
        log.warnings(notes, prefix: "guest \(guest) \(operation): ")
        guard var fresh = taken else {
            // No forwards now: a guest that had some when it started is forgotten.
            if operation.action == .rerecord, reconciler.store.has(domain.uuid) {
                return (try reconciler.reconcile(.forget(domain.uuid)), domain.uuid)
            }
            return (nil, domain.uuid)
        }
        switch operation.action {
        case .check: return (try reconciler.reconcile(.check(fresh)), domain.uuid)
        case .record: return (try reconciler.reconcile(.start(fresh)), domain.uuid)
        default:
            // The guest runs already: keep what its record knows (`DomainIntake.continuing`).
            if let recorded = reconciler.store.record(domain.uuid) {
                fresh = reconciler.intake.continuing(fresh, from: recorded, surroundings: reconciler.surroundings)
            }
            return (try reconciler.reconcile(.record(fresh)), domain.uuid)
        }
    }

    /// Stopping needs the guest's identity only: the UUID by `DomainIdentity`, which nothing
    /// else in the document can spoil, or else the records that carry this exact name. It
    /// never fails, and the guest's forwards always go.
    private func forget(_ guest: String, _ input: Input) -> (Outcome?, DomainUUID?) {
        let store = reconciler.store
        var uuids: [DomainUUID] = []
        if let uuid = DomainIdentity.uuid(in: input.bytes), store.has(uuid) {
            uuids = [uuid]
        } else if let name = try? GuestName(guest) {
            uuids = store.load().guests.filter { $0.name == name }.map(\.uuid)
        }
        guard !uuids.isEmpty else { return (nil, nil) }
        var change = Change.forget(uuids[0])
        change.forget = uuids
        do { return (try reconciler.reconcile(change), uuids[0]) } catch {
            // Not even the lock or the records could be had; the shim exits 0 regardless.
            log.error("guest \(guest) stopped: \(error.oneLine)")
            return (nil, uuids[0])
        }
    }
}
