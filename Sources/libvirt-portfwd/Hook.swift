import CFrontDoor
#if canImport(Glibc)
import Glibc
#endif
import PortFwd
import PortFwdCore
import PortFwdSystem

enum Hook {
    static let command = Command(path: "hook", abstract: "Entry points for libvirtd's hooks (installed by install-hook).")

    static let qemu = Command(
        path: "hook qemu",
        abstract: "Handle a qemu hook event; the domain XML comes on stdin. Never prints to stdout.",
        options: GlobalOptions.specs,
        positionals: [
            PositionalSpec(name: "guest", help: "Domain name."),
            PositionalSpec(name: "operation", help: "Operation: prepare, start, started, stopped, release, reconnect, attach, migrate, restore, ..."),
            PositionalSpec(name: "sub-operation", help: "Sub-operation: begin or end."),
            PositionalSpec(name: "extra", help: "Extra argument(s), '-' when empty.", repeats: true),
        ],
        run: runQemu)

    static let network = Command(
        path: "hook network",
        abstract: "Handle a network hook event. Always exits 0.",
        options: GlobalOptions.specs,
        positionals: [
            PositionalSpec(name: "network", help: "Network name."),
            PositionalSpec(name: "operation", help: "Operation: start, started, stopped, port-created, port-deleted, updated."),
            PositionalSpec(name: "rest", help: "Sub-operation and extra arguments.", repeats: true),
        ],
        run: runNetwork)

    /// The options, with the hook's short wait for a guest's answer.
    static func options(_ arguments: Arguments) -> GlobalOptions {
        var options = GlobalOptions(arguments)
        options.probeTimeout = NeighbourProbe.hookTimeout
        return options
    }

    static func runQemu(_ arguments: Arguments) throws {
        let setup = options(arguments).setup
        let guest = arguments.positionals[0]
        let operation = HookOperation.named(arguments.positionals[1])
        // All of stdin first: libvirt writes the XML whatever the operation, and migrate and
        // restore must see it consumed and nothing printed. The front door may have read it
        // already, and declined.
        let (bytes, complete) = FrontDoor.stdin() ?? Stdin.read(limit: XMLParser.maximumSize)
        // Guests without forwards leave here, before any TOML or XML parsing or kernel access.
        let text = configText(setup)
        if isNoOp(arguments, xml: bytes, setup: setup, text: text) { return }
        let log = SyslogLog()
        let (reconciler, problem) = setup.tolerantReconciler(text: text)
        if let problem { log.error("guest \(guest) \(operation): \(problem)") }
        let status = QemuHook(reconciler: reconciler, log: log).handle(guest: guest, operation: operation,
                                                                       input: QemuHook.Input(bytes: bytes, complete: complete))
        if status != 0 { throw ExitStatus(status) }
    }

    /// The config's text, nil when it cannot be read: the full path then says why.
    static func configText(_ setup: Setup) -> String? {
        do { return try setup.configText() } catch { return nil }
    }

    /// Whether this event certainly concerns no forward: the triage, on what this command
    /// line reads. The front door's verdict is held to this one (FrontDoorTests).
    static func isNoOp(_ arguments: Arguments, xml: [UInt8], setup: Setup, text: String?) -> Bool {
        guard let text else { return false }
        return Triage.isNoOp(operation: HookOperation.named(arguments.positionals[1]), guest: arguments.positionals[0], xml: xml,
                             configText: text, store: setup.store)
    }

    static func runNetwork(_ arguments: Arguments) throws {
        let setup = options(arguments).setup
        let network = arguments.positionals[0], operation = arguments.positionals[1]
        _ = Stdin.read(limit: 0)
        guard operation == "started" else { return }
        let log = SyslogLog()
        let (reconciler, problem) = setup.tolerantReconciler()
        if let problem { log.error("network \(network) \(operation): \(problem)") }
        _ = NetworkHook(reconciler: reconciler, log: log).handle(network: network, operation: operation)
    }
}

/// The hook's front door (CFrontDoor): a constructor that answers the events triage finds
/// certain no-ops before the Swift runtime starts. When it declines after reading stdin, the
/// bytes it read are the hook's.
enum FrontDoor {
    static func stdin() -> (bytes: [UInt8], complete: Bool)? {
        let read = pf_front_door_take_stdin()
        guard read.taken == 1 else { return nil }
        defer { free(read.bytes) }
        let bytes = read.bytes.map { Array(UnsafeBufferPointer(start: $0, count: read.count)) } ?? []
        return (bytes, read.complete == 1)
    }
}
