import FoundationEssentials
#if canImport(Glibc)
import Glibc
#endif
import PortFwd
import PortFwdCore
import PortFwdSystem

enum Apply {
    static let command = Command(
        path: "apply",
        abstract: "Make the kernel's rules equal to the plan, in one transaction.",
        discussion: "Adopts running guests that have forwards but no record and drops records of guests that do not run, "
            + "from libvirt's status files. Covers the running guests, or every configured guest after --all, "
            + "which is recorded: the hooks and the service keep it until apply --running.",
        options: GlobalOptions.specs + [
            .flag("all", "Every configured guest, running or not, from now on."),
            .flag("running", "Only running guests, from now on (the default)."),
            .flag("resume", "For the package's postinst: back on as they were, if the package's removal turned the forwards off; otherwise nothing."),
        ],
        needsRoot: true,
        run: run)

    static func run(_ arguments: Arguments) throws {
        if arguments.flag("all") && arguments.flag("running") {
            throw UsageError(message: "--all and --running contradict each other", command: command)
        }
        let setup = GlobalOptions(arguments).setup
        let log = SyslogLog(echo: .none)
        let outcome: Outcome
        // Off by the package's removal (and by nothing the admin said since): back as it was.
        let resumed = arguments.flag("resume") && setup.store.mode == .off ? setup.store.modeBeforeRemoval : nil
        if arguments.flag("resume") && resumed == nil { return }
        do {
            let reconciler = try setup.reconciler()
            var change = Change.sync
            change.refuseConflicts = true
            change.mode = resumed ?? (arguments.flag("all") ? .all : arguments.flag("running") ? .running
                : (reconciler.recordedMode == .all ? .all : .running))
            outcome = try reconciler.reconcile(change)
            if resumed != nil { try? setup.store.setModeBeforeRemoval(nil) }
        } catch {
            log.error("apply: \(error.oneLine)")
            throw fail(error)
        }
        LogText.capped(outcome.warnings.map(\.message)).forEach(warn)
        let summary = (resumed != nil ? "forwards back on after the package's reinstall: " : "") + Apply.summary(outcome)
        print(summary)
        log.info("apply: \(summary)")
        // Installed, but another firewall turns the forwards away: not a success.
        if outcome.warnings.contains(where: { $0.kind == .blocked }) { throw ExitStatus(1) }
    }

    static func summary(_ outcome: Outcome) -> String {
        let forwards = outcome.plan.forwardCount, guests = outcome.plan.guests.count
        var parts = ["installed \(forwards) forward\(forwards == 1 ? "" : "s") of \(guests) guest\(guests == 1 ? "" : "s")"
            + (outcome.mode == .all ? " (every configured guest)" : "")]
        parts += outcome.notes
        if !outcome.adopted.isEmpty { parts.append("adopted \(outcome.adopted.map(\.value).joined(separator: ", "))") }
        if !outcome.dropped.isEmpty { parts.append("dropped the records of \(outcome.dropped.map(\.value).joined(separator: ", "))") }
        if !outcome.pending.isEmpty { parts.append("pending: \(outcome.pending.map(\.guest.name.value).joined(separator: ", "))") }
        return parts.joined(separator: "; ")
    }
}
