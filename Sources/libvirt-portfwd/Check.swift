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
            + "and checks that no other firewall will turn the forwards away: every chain on the forward hook, in any table and family, "
            + "iptables-legacy included, is read, and one that would drop the forwards' traffic whoever the client is, is named.",
        options: GlobalOptions.specs + [
            .flag("kernel", "Also dry-run the full ruleset (every configured guest) in the kernel."),
            .value("candidate", "file", "Check the config as it would be with this file in place of the one --as names "
                + "(a config manager's validate step, before it moves the file there)."),
            .value("as", "path", "Where the --candidate would go: the config file, or a drop-in in its portfwd.d, there or not yet."),
        ],
        examples: ["libvirt-portfwd check --candidate /tmp/web1.toml --as /etc/libvirt/portfwd.d/web1.toml"],
        run: run)

    static func run(_ arguments: Arguments) throws {
        let setup = GlobalOptions(arguments).setup
        let kernel = arguments.flag("kernel")
        if kernel && geteuid() != 0 {
            warn("check --kernel needs root: it asks the kernel to check the ruleset")
            throw ExitStatus(77)
        }
        let file = arguments.value("candidate"), place = arguments.value("as")
        if (file == nil) != (place == nil) { throw UsageError(message: "--candidate and --as go together", command: command) }
        do {
            var candidate: ConfigFiles.File?
            if let file, let place { candidate = try Check.candidate(file, as: place, setup: setup) }
            let reconciler = try setup.reconciler(probe: kernel, candidate: candidate)
            let outcome = try reconciler.plan(all: true)
            if !outcome.conflicts.isEmpty { throw PortFwdError(.conflict, lines: outcome.conflicts) }
            LogText.capped(Check.warnings(outcome.warnings.map(\.message), config: reconciler.config)).forEach(warn)
            let absent = Check.absentHostAddresses(outcome.plan, floating: reconciler.config.settings.floatingAddresses,
                                                   held: HostAddresses.current())
            if !absent.isEmpty { throw PortFwdError(.invalidInput, lines: absent) }
            if kernel {
                try reconciler.backends.selected.validate(outcome.plan)
                if try reconciler.host.firewalldRejectsForwards() == true { throw PortFwdError(.refused, Firewalld.strictProblem) }
                // Every other chain on the forward hook, with our admission where apply would put it.
                let turnedAway = try reconciler.suspects(outcome.plan, admitted: true).filter(\.sure)
                if !turnedAway.isEmpty { throw PortFwdError(.refused, lines: turnedAway.map { "\($0.line): those forwards would be turned away" }) }
            }
            // One line, as `firewall-cmd --check-config` prints `success`.
            print("success: \(setup.configPath)" + (candidate.map { " with \(file ?? "") as \($0.path)" } ?? "")
                + ": \(outcome.plan.forwardCount) forwards of \(outcome.plan.guests.count) configured guests"
                + (kernel ? "; the kernel accepts the ruleset" : ""))
        } catch {
            let status = fail(error)
            // The lines name the file by where it would go; say whose text that was.
            if let file, let place { warn("(checked with \(file) in place of \(place))") }
            throw status
        }
    }

    /// `--candidate FILE --as PATH`: FILE's text standing in for PATH, read as the service reads
    /// PATH (a drop-in: root's, not writable by group or others, not a symlink), so a file that
    /// passes here passes there. PATH must be a file the service reads: the config file, or a
    /// drop-in of an acceptable name in the config's portfwd.d.
    static func candidate(_ file: String, as path: String, setup: Setup) throws(PortFwdError) -> ConfigFiles.File {
        let main = path == setup.configPath
        if !main {
            let directory = setup.dropInDirectory
            let name = path.hasPrefix(directory + "/") ? String(path.dropFirst(directory.count + 1)) : ""
            guard !name.contains("/"), ConfigFile.isDropInName(name) else {
                throw PortFwdError(.invalidInput, "--as \(LogText.line(path)): the service would not read it: "
                    + "neither the config file \(setup.configPath) "
                    + "nor a drop-in \(directory)/NAME.toml (NAME of letters, digits and ._+@:-)")
            }
        }
        let text = try ConfigFile.read(path: file, required: true, trust: main ? .regularFile : .strict) ?? ""
        return ConfigFiles.File(path: path, text: text)
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
