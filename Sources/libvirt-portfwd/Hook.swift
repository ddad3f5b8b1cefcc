import Foundation
import PortFwd

enum Hook {
    static let command = Command(path: "hook", abstract: "Entry points for libvirtd's hooks (installed by install-hook).")

    static let qemu = Command(
        path: "hook qemu",
        abstract: "Handle a qemu hook event; the domain XML comes on stdin. Never prints to stdout.",
        options: GlobalOptions.specs + [.value("libvirt-root", "dir", "Prefix for libvirt's files (network XML, leases), for tests.")],
        positionals: [
            PositionalSpec(name: "guest", help: "Domain name."),
            PositionalSpec(name: "operation", help: "Operation: prepare, start, started, stopped, release, reconnect, attach, migrate, restore, ..."),
            PositionalSpec(name: "sub-operation", help: "Sub-operation: begin or end."),
            PositionalSpec(name: "extra", help: "Extra argument(s), '-' when empty.", repeats: true),
        ],
        run: { try Qemu(arguments: $0).run() })

    static let network = Command(
        path: "hook network",
        abstract: "Handle a network hook event. Always exits 0.",
        options: GlobalOptions.specs,
        positionals: [
            PositionalSpec(name: "network", help: "Network name."),
            PositionalSpec(name: "operation", help: "Operation: start, started, stopped, port-created, port-deleted, updated."),
            PositionalSpec(name: "rest", help: "Sub-operation and extra arguments.", repeats: true),
        ],
        run: { try Network(arguments: $0).run() })

    struct Qemu {
        let global: GlobalOptions
        let libvirtRoot: String
        let guest: String
        let operation: String
        let subOperation: String

        init(arguments: Arguments) {
            global = GlobalOptions(arguments)
            libvirtRoot = arguments.value("libvirt-root") ?? ""
            guest = arguments.positionals[0]
            operation = arguments.positionals[1]
            subOperation = arguments.positionals[2]
        }

        func run() throws {
            // Read all of stdin first: libvirt writes the XML whatever the operation, and
            // migrate/restore must see us consume it and print nothing.
            let xml: Data
            do { xml = try HookInput.stdin() } catch {
                SyslogLog().error("guest \(guest) \(operation): \(error)")
                throw ExitStatus(strictOperations.contains(operation) ? 1 : 0)
            }
            // Guests without forwards leave here, before any TOML or XML parsing or kernel access.
            let input = HookInput(configPath: global.configPath.path, store: global.store)
            if input.isNoOp(guest: guest, operation: operation) { return }
            let configText = input.configText
            let log = SyslogLog()
            let config: Config
            do { config = try global.loadConfig(text: configText) } catch {
                log.error("guest \(guest) \(operation): \(oneLine(error))")
                throw ExitStatus(strictOperations.contains(operation) ? 1 : 0)
            }
            let global = self.global
            let hook = QemuHook(config: config, store: global.store, discovery: AddressDiscovery(paths: LibvirtPaths(root: libvirtRoot)),
                                log: log, backends: { global.backends(config) })
            let status = hook.handle(guest: guest, operation: operation, subOperation: subOperation, xml: xml)
            if status != 0 { throw ExitStatus(status) }
        }

        private var strictOperations: Set<String> { ["prepare", "start"] }
    }

    struct Network {
        let global: GlobalOptions
        let network: String
        let operation: String

        init(arguments: Arguments) {
            global = GlobalOptions(arguments)
            network = arguments.positionals[0]
            operation = arguments.positionals[1]
        }

        func run() throws {
            let log = SyslogLog()
            _ = try? HookInput.stdin()
            guard operation == "started" else { return }
            do {
                let reconciler = try global.reconciler()
                _ = NetworkHook(reconciler: reconciler, log: log).handle(network: network, operation: operation)
            } catch {
                log.error("network \(network) \(operation): \(oneLine(error))")
            }
        }
    }
}
