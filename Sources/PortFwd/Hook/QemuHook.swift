import Foundation
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

    /// Handles one event and returns the exit status for libvirt (see `HookPolicy`).
    public func handle(guest: String, operation: String, subOperation: String, xml: Data) -> Int32 {
        let policy = HookPolicy.of(operation)
        guard policy != .ignored else { return 0 }
        let started = Date()
        do {
            let domain = try Domain.parse(xml)
            let outcome = try run(operation, domain)
            for warning in outcome?.warnings ?? [] { log.warning("guest \(guest) \(operation): \(warning)") }
            let count = outcome?.plan.guests.first { $0.uuid == domain.uuid }?.forwards.count ?? 0
            let pending = outcome?.pending.contains { $0.uuid == domain.uuid } == true
            log.info("guest \(guest) \(operation): \(count) forwards\(pending ? ", pending a DHCP lease" : ""), \(Int(Date().timeIntervalSince(started) * 1000)) ms")
            return 0
        } catch {
            log.error(policy == .strict ? "cannot start guest \(guest): \(error.oneLine)" : "guest \(guest) \(operation): \(error.oneLine)")
            return policy.failureStatus
        }
    }

    /// nil when the event concerns no forwards.
    private func run(_ operation: String, _ domain: Domain) throws(PortFwdError) -> Outcome? {
        let others = reconciler.store.load().guests
        switch operation {
        case "prepare":
            guard let guest = try reconciler.intake.take(domain, others: others, strict: true) else { return nil }
            return try reconciler.reconcile(.check(guest))
        case "start":
            guard let guest = try reconciler.intake.take(domain, others: others, strict: true) else { return nil }
            return try reconciler.reconcile(.record(guest))
        case "reconnect", "attach":
            // The guest runs already: what the policy refuses now is left out with a warning,
            // never a reason to fail (libvirt would kill it).
            guard let guest = try reconciler.intake.take(domain, others: others, strict: false) else { return try forget(domain.uuid) }
            var kept = guest
            // Keep the address the guest started with when nothing names one now.
            if guest.addressSource == .pending, let recorded = reconciler.store.record(domain.uuid), recorded.addressSource != .pending {
                kept = guest.readdressed(recorded.address4, recorded.address6, source: recorded.addressSource)
            }
            return try reconciler.reconcile(.record(kept))
        default:
            return try forget(domain.uuid)
        }
    }

    /// Stopping always removes the guest's forwards. The record alone says what to remove; if
    /// even the plan without it cannot be made (records that conflict, a kernel that refuses),
    /// every rule of ours goes, loudly, rather than leave the guest's ports open to whatever
    /// gets its address next.
    private func forget(_ uuid: DomainUUID) throws(PortFwdError) -> Outcome? {
        guard reconciler.store.has(uuid) else { return nil }
        do {
            return try reconciler.reconcile(.forget(uuid))
        } catch {
            log.error("cannot re-plan without guest \(uuid): \(error.oneLine); removing every forward instead")
            try? reconciler.store.remove(uuid)
            _ = try reconciler.reconcile(.flushAll)
            throw PortFwdError(error.code, "every forward was removed; fix the cause and run libvirt-portfwd apply")
        }
    }
}

extension Error {
    /// An error as one line, for syslog and libvirt's error message.
    public var oneLine: String { String(describing: self).split(separator: "\n").joined(separator: "; ") }
}
