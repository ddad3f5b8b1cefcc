import FoundationEssentials
#if canImport(Glibc)
import Glibc
#endif
import PortFwd
import PortFwdCore
import PortFwdSystem

enum Forward {
    static let command = Command(path: "forward", abstract: "Add, remove and list a guest's forwards: in its metadata, or in the config's drop-ins.")

    static let connect: OptionSpec = .value("connect", "uri", "libvirt connection for virsh (default qemu:///system).")

    static let add = Command(
        path: "forward add",
        abstract: "Add a forward to a guest; applied at once when it runs, and kept across reboots.",
        discussion: "Stored in the guest's metadata, which travels with it, when settings.metadata-host-ports and the caps allow it; "
            + "otherwise (port 443, say) in the config's drop-in portfwd.d/GUEST.toml, which may open any port. --in chooses. "
            + "Checked against every other forward before anything is written. Runs virsh, so never from a hook. "
            + "Exit status 2 when the guest runs and the forward is stored but not installed (left out, pending, or forwards off), "
            + "with why and what to do.",
        options: GlobalOptions.specs + [
            connect,
            .value("source", "cidr", "A client network allowed to use it (repeatable; default: everyone).", repeats: true),
            .value("address", "ip", "The guest's address, when it cannot be discovered (a static address inside the guest)."),
            .value("in", "where", "Where to store it: auto (the default), metadata or config.",
                   choices: ForwardEditor.Destination.allCases.map(\.rawValue)),
        ],
        positionals: [PositionalSpec(name: "guest", help: "Domain name or UUID."),
                      PositionalSpec(name: "spec", help: "Port spec, as in the config: 8080:80, 5353/udp, ...")],
        needsRoot: true,
        examples: ["libvirt-portfwd forward add web1 8443:443 --source 203.0.113.0/24",
                   "libvirt-portfwd forward add web1 443           # outside the metadata fence: stored in portfwd.d/web1.toml",
                   "libvirt-portfwd forward add db1 5432 --address 192.168.122.20 --in config"],
        run: { try edit($0, remove: false) })

    static let remove = Command(
        path: "forward remove",
        abstract: "Remove a forward forward add made (from the metadata or the drop-in); applied at once when it runs.",
        discussion: "A spec of a host port alone (8080) removes the one forward whose host port that is; when several are, they are listed.",
        options: GlobalOptions.specs + [connect],
        positionals: [PositionalSpec(name: "guest", help: "Domain name or UUID."), PositionalSpec(name: "spec", help: "The port spec to remove.")],
        needsRoot: true,
        run: { try edit($0, remove: true) })

    static let list = Command(
        path: "forward list",
        abstract: "List forwards from the config and from metadata, with where each comes from.",
        discussion: "STATE says, for a running guest, whether each forward is installed, pending or left out, and why. "
            + "Members of group libvirt may run it without root: the states then come from what the libvirt-portfwd service publishes.",
        options: GlobalOptions.specs + [connect, .flag("json", "Machine-readable JSON.")],
        positionals: [PositionalSpec(name: "guest", help: "Only this domain.", repeats: true)],
        examples: ["libvirt-portfwd forward list", "libvirt-portfwd forward list web1 --json"],
        run: run)

    static func editor(_ arguments: Arguments) throws(PortFwdError) -> ForwardEditor {
        let setup = GlobalOptions(arguments).setup
        return ForwardEditor(reconciler: try setup.reconciler(), virsh: Virsh(uri: arguments.value("connect") ?? "qemu:///system"),
                             dropIn: DropIn(directory: setup.dropInDirectory), reload: { () throws(PortFwdError) in try setup.reconciler() })
    }

    static func edit(_ arguments: Arguments, remove: Bool) throws {
        let guest = arguments.positionals[0], specText = arguments.positionals[1]
        let log = SyslogLog(echo: .none)
        let result: ForwardEditor.Result
        do {
            let spec = try PortSpec.parse(specText)
            var sources: [Network] = []
            for text in arguments.all("source") { sources.append(try Network.parse(text)) }
            var address: IPAddress?
            if let text = arguments.value("address") {
                guard let a = IPAddress(text), a.guestRefusal == nil else {
                    throw PortFwdError(.invalidInput, "--address: '\(text)' is not an address a guest can hold")
                }
                address = a
            }
            let edit: ForwardEditor.Edit = remove ? .remove(spec)
                : .add(PortFwdCore.Forward(spec: spec, sources: sources, origin: .metadata), address: address)
            let destination = arguments.value("in").flatMap(ForwardEditor.Destination.init(rawValue:)) ?? .auto
            let hostPortOnly = remove && !specText.isEmpty && specText.allSatisfy { $0.isASCII && ($0.isNumber || $0 == "-") }
            result = try editor(arguments).apply(edit, to: guest, in: destination, hostPortOnly: hostPortOnly)
        } catch {
            throw fail(error)
        }
        LogText.capped(result.outcome?.warnings.map(\.message) ?? []).forEach(warn)
        let stored = remove ? nil : storedSpec(result, specText)
        let line = "\(remove ? "removed" : "added") \(specText) \(remove ? "from" : "to") \(result.guest) in \(result.storedIn)"
            + (result.why.map { " (\($0))" } ?? "") + "; " + state(result)
        // The name is the guest owner's text: a bidi override or a zero-width space in it
        // must not reach root's terminal acting.
        print(LogText.line(line))
        log.info("forward: \(line)")
        if let stored, let why = notInstalled(result, stored) {
            for line in why { warn(LogText.line(line)) }
            throw ExitStatus(2)
        }
    }

    static func storedSpec(_ result: ForwardEditor.Result, _ text: String) -> PortSpec? { try? PortSpec.parse(text) }

    /// Why the forward just added does not reach the kernel although its guest runs, and what
    /// to do; nil when it is installed (or the guest does not run).
    static func notInstalled(_ result: ForwardEditor.Result, _ spec: PortSpec) -> [String]? {
        guard let outcome = result.outcome else { return nil }
        let mine = { (g: GuestName, u: DomainUUID?) in u == result.uuid || (u == nil && g == result.guest) }
        let names = Set(outcome.plan.guests.filter { mine($0.name, $0.uuid) }.map(\.name))
        if outcome.plan.entries.contains(where: { names.contains($0.guest) && $0.forward.isNamed(by: spec) }) { return nil }
        if outcome.mode == .off {
            return ["error: \(spec) is stored but not installed: forwards are off since libvirt-portfwd flush; libvirt-portfwd apply turns them on"]
        }
        if let left = outcome.leftOut.first(where: { mine($0.guest, $0.uuid) && $0.forward.isNamed(by: spec) }) {
            var lines = ["error: \(spec) is stored but not installed (\(left.reason.rawValue)): \(left.message)"]
            switch left.reason {
            case .hostService:
                lines.append("it is installed by itself once nothing listens on host port \(spec.hostPorts); to install it now, as root, "
                    + "in the config (which may take a port a host service listens on, and hides that service from clients outside): "
                    + "libvirt-portfwd forward add \(result.guest) \(spec) --in config")
            case .policy:
                lines.append("settings.metadata-* refuse it in metadata; as root, store it in the config instead: "
                    + "libvirt-portfwd forward add \(result.guest) \(spec) --in config")
            case .portTaken, .configConflict, .addressDispute:
                lines.append("libvirt-portfwd status shows who holds it; the forward is installed by itself once that ends")
            case .isolated, .family:
                lines.append("change the forward's host address or the guest's network; libvirt-portfwd check explains")
            }
            return lines
        }
        if let pending = outcome.pending.first(where: { mine($0.guest.name, $0.guest.uuid) }) {
            return ["error: \(spec) is stored but not installed yet: guest \(result.guest) is pending (\(pending.reason)); "
                + "the libvirt-portfwd service installs it when that ends (libvirt-portfwd status shows it)"]
        }
        return ["error: \(spec) is stored but not installed; libvirt-portfwd status says why"]
    }

    /// What the guest's forwards are now, as `incus network forward show` says it.
    static func state(_ result: ForwardEditor.Result) -> String {
        guard let outcome = result.outcome else { return "\(result.guest) is shut off: it applies when the guest starts" }
        let installed = outcome.plan.guests.first { $0.uuid == result.uuid }?.forwards.count ?? 0
        if let pending = outcome.pending.first(where: { $0.guest.uuid == result.uuid }) {
            return "\(result.guest) runs: \(installed) forwards installed, \(pending.forwards.count) pending (\(pending.reason))"
        }
        return "\(result.guest) runs: \(installed) forwards installed"
    }

    static func run(_ arguments: Arguments) throws {
        var rows: [ForwardEditor.Row] = []
        var problems: [String] = []
        do {
            let editor = try editor(arguments)
            for name in arguments.positionals.isEmpty ? [nil] : arguments.positionals.map(Optional.some) {
                let listed = try editor.list(name)
                rows += listed.rows
                problems += listed.problems
            }
        } catch {
            throw fail(error)
        }
        // Every guest that could be read is listed; the others are named, and the exit says so.
        let named = { () throws in
            guard !problems.isEmpty else { return }
            LogText.capped(problems).forEach(warn)
            throw ExitStatus(1)
        }
        let states = InstallStates(setup: GlobalOptions(arguments).setup, needed: rows.contains(where: \.running))
        rows = rows.map { row in var r = row; r.state = r.running ? states.state(r) : nil; return r }
        if arguments.flag("json") {
            print((try? JSONOutput.text(rows)) ?? "[]")
            return try named()
        }
        var lines = [["GUEST", "SPEC", "SOURCES", "FROM", "STATE"]]
        for r in rows {
            lines.append([LogText.line(r.guest), r.spec, r.sources.isEmpty ? "any" : r.sources.joined(separator: ","), r.origin,
                          r.running ? "running" + (r.state.map { ", \($0)" } ?? "") : "shut off"])
        }
        let widths = (0..<5).map { i in lines.map { $0[i].count }.max()! }
        for line in lines {
            var row = zip(line, widths).map { $0.0 + String(repeating: " ", count: max(0, $0.1 - $0.0.count)) }.joined(separator: "  ")
            while row.last == " " { row.removeLast() }
            print(row)
        }
        try named()
    }
}

/// Whether a running guest's forward is in the kernel, and if not why: from the plan (root), or
/// from what the service published (members of group libvirt). Read once per listing.
struct InstallStates {
    let outcome: Outcome?
    let published: PublishedStatus?

    init(setup: Setup, needed: Bool) {
        let root = geteuid() == 0
        outcome = needed && root ? try? setup.tolerantReconciler().0.plan() : nil
        published = needed && !root ? (try? PublishedStatus.read(setup.store)) ?? nil : nil
    }

    func state(_ row: ForwardEditor.Row) -> String? {
        guard let spec = try? PortSpec.parse(row.spec) else { return nil }
        if let published {
            if published.report.forwards.contains(where: { $0.guest == row.guest && $0.spec == row.spec }) { return "installed" }
            if published.report.pending.contains(where: { $0.guest == row.guest }) { return "pending" }
            return "not installed"
        }
        guard let outcome else { return nil }
        if outcome.mode == .off { return "off (libvirt-portfwd flush)" }
        if outcome.plan.entries.contains(where: { $0.guest.value == row.guest && $0.forward.isNamed(by: spec) }) { return "installed" }
        if let p = outcome.pending.first(where: { $0.guest.name.value == row.guest }) { return "pending: \(p.reason)" }
        if let left = outcome.leftOut.first(where: { $0.guest.value == row.guest && $0.forward.isNamed(by: spec) }) {
            return "left out (\(left.reason.rawValue))"
        }
        return "not installed"
    }
}
