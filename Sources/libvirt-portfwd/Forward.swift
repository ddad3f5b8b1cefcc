import FoundationEssentials
#if canImport(Glibc)
import Glibc
#endif
import PortFwd
import PortFwdCore
import PortFwdSystem

enum Forward {
    static let command = Command(path: "forward", abstract: "Add, remove and list a guest's forwards; added ones live in its domain metadata.")

    static let connect: OptionSpec = .value("connect", "uri", "libvirt connection for virsh (default qemu:///system).")

    static let add = Command(
        path: "forward add",
        abstract: "Add a forward to a guest's metadata; applied at once when it runs.",
        discussion: "Checked against settings.metadata-host-ports, the caps and every other forward before anything is written. "
            + "Runs virsh, so never from a hook.",
        options: GlobalOptions.specs + [connect, .value("source", "cidr", "A client network allowed to use it (repeatable; default: everyone).", repeats: true)],
        positionals: [PositionalSpec(name: "guest", help: "Domain name or UUID."), PositionalSpec(name: "spec", help: "Port spec, as in the config: 8080:80, 5353/udp, ...")],
        needsRoot: true,
        run: { try edit($0, remove: false) })

    static let remove = Command(
        path: "forward remove",
        abstract: "Remove a forward from a guest's metadata; applied at once when it runs.",
        options: GlobalOptions.specs + [connect],
        positionals: [PositionalSpec(name: "guest", help: "Domain name or UUID."), PositionalSpec(name: "spec", help: "The port spec to remove.")],
        needsRoot: true,
        run: { try edit($0, remove: true) })

    static let list = Command(
        path: "forward list",
        abstract: "List forwards from the config and from metadata, with where each comes from.",
        options: GlobalOptions.specs + [connect, .flag("json", "Machine-readable JSON.")],
        positionals: [PositionalSpec(name: "guest", help: "Only this domain.", repeats: true)],
        needsRoot: true,
        run: run)

    static func editor(_ arguments: Arguments) throws(PortFwdError) -> ForwardEditor {
        let setup = GlobalOptions(arguments).setup
        return ForwardEditor(reconciler: try setup.reconciler(), virsh: Virsh(uri: arguments.value("connect") ?? "qemu:///system"))
    }

    static func edit(_ arguments: Arguments, remove: Bool) throws {
        let guest = arguments.positionals[0], specText = arguments.positionals[1]
        let log = SyslogLog(echo: .none)
        let outcome: Outcome?
        do {
            let spec = try PortSpec.parse(specText)
            var sources: [Network] = []
            for text in arguments.all("source") { sources.append(try Network.parse(text)) }
            let edit: ForwardEditor.Edit = remove ? .remove(spec) : .add(PortFwdCore.Forward(spec: spec, sources: sources, origin: .metadata))
            outcome = try editor(arguments).apply(edit, to: guest)
        } catch {
            throw fail(error)
        }
        let verb = remove ? "removed" : "added"
        let line = "\(verb) \(specText) \(remove ? "from" : "to") \(guest)" + (outcome == nil ? "; it applies when the guest starts" : "; installed")
        outcome?.warnings.forEach { warn($0.message) }
        print(line)
        log.info("forward: \(line)")
    }

    static func run(_ arguments: Arguments) throws {
        let rows: [ForwardEditor.Row]
        do {
            let editor = try editor(arguments)
            rows = arguments.positionals.isEmpty ? try editor.list(nil) : try arguments.positionals.flatMap { name throws(PortFwdError) in try editor.list(name) }
        } catch {
            throw fail(error)
        }
        if arguments.flag("json") {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            print(String(decoding: (try? encoder.encode(rows)) ?? Data(), as: UTF8.self))
            return
        }
        var lines = [["GUEST", "SPEC", "SOURCES", "FROM", "STATE"]]
        for r in rows { lines.append([LogText.line(r.guest), r.spec, r.sources.isEmpty ? "any" : r.sources.joined(separator: ","), r.origin, r.running ? "running" : "shut off"]) }
        let widths = (0..<5).map { i in lines.map { $0[i].count }.max()! }
        for line in lines {
            var row = zip(line, widths).map { $0.0 + String(repeating: " ", count: max(0, $0.1 - $0.0.count)) }.joined(separator: "  ")
            while row.last == " " { row.removeLast() }
            print(row)
        }
    }
}
