import FoundationEssentials
#if canImport(Glibc)
import Glibc
#endif
import PortFwd
import PortFwdCore
import PortFwdSystem

enum Check {
    static let command = Command(
        path: "check",
        abstract: "Validate the config; exit 0 when valid, 1 with one line per problem otherwise.",
        discussion: "Plans every configured guest with the running ones, and refuses host addresses this host does not hold "
            + "unless settings.floating-addresses lists them. With --kernel (root), also dry-runs the whole ruleset in the kernel "
            + "and checks that no other firewall will turn the forwards away.",
        options: GlobalOptions.specs + [.flag("kernel", "Also dry-run the full ruleset (every configured guest) in the kernel.")],
        run: run)

    static func run(_ arguments: Arguments) throws {
        let setup = GlobalOptions(arguments).setup
        let kernel = arguments.flag("kernel")
        if kernel && geteuid() != 0 {
            warn("check --kernel needs root: it asks the kernel to check the ruleset")
            throw ExitStatus(77)
        }
        do {
            let reconciler = try setup.reconciler(probe: kernel)
            let outcome = try reconciler.plan(all: true)
            if !outcome.conflicts.isEmpty { throw PortFwdError(.conflict, lines: outcome.conflicts) }
            LogText.capped(Check.warnings(outcome.warnings.map(\.message), config: reconciler.config)).forEach(warn)
            let absent = Check.absentHostAddresses(outcome.plan, floating: reconciler.config.settings.floatingAddresses, held: HostAddresses.current())
            if !absent.isEmpty { throw PortFwdError(.invalidInput, lines: absent) }
            if kernel {
                try reconciler.backends.selected.validate(outcome.plan)
                if try reconciler.host.firewalldRejectsForwards() == true { throw PortFwdError(.refused, Firewalld.strictProblem) }
            }
            // One line, as `firewall-cmd --check-config` prints `success`.
            print("success: \(setup.configPath): \(outcome.plan.forwardCount) forwards of \(outcome.plan.guests.count) configured guests"
                + (kernel ? "; the kernel accepts the ruleset" : ""))
        } catch {
            throw fail(error)
        }
    }

    /// The plan's warnings, with the configured guests skipped for want of an address (every
    /// guest that is shut off and gets its address by DHCP, on a typical host) said once, with
    /// their count, instead of once each at every check.
    static func warnings(_ lines: [String], config: Config) -> [String] {
        var skipped: [String] = []
        var rest: [String] = []
        for line in lines {
            if let entry = config.guests.first(where: { line == Check.skippedLine($0) }) { skipped.append(entry.label) } else { rest.append(line) }
        }
        guard !skipped.isEmpty else { return rest }
        let names = skipped.prefix(5).map(LogText.line).joined(separator: ", ") + (skipped.count > 5 ? ", …" : "")
        return ["\(skipped.count) configured guest\(skipped.count == 1 ? "" : "s") not running and without an address in the config "
            + "(\(names)): their forwards are checked when they start and their address is known"] + rest
    }

    /// The plan's line for a configured guest it skipped for want of an address.
    static func skippedLine(_ entry: GuestConfig) -> String {
        "\(entry.path) (\(entry.label)): skipped, no address in the config (addresses are only discovered when the guest starts)"
    }

    /// Forwards bound to a host address this host does not hold: they would never match.
    static func absentHostAddresses(_ plan: Plan, floating: [IPAddress], held: Set<IPAddress>) -> [String] {
        var seen = Set<IPAddress>()
        return plan.entries.compactMap { e -> String? in
            guard let address = e.hostAddress, !held.contains(address), !floating.contains(address), seen.insert(address).inserted else { return nil }
            return "guest \(e.guest): forward \(e.forward.spec) is bound to \(address), which this host does not hold; "
                + "add it to settings.floating-addresses if it arrives later (keepalived, say)"
        }
    }
}
