import ArgumentParser
import Foundation
import PortFwd

struct Hook: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Entry points for libvirtd's hooks (installed by install-hook).",
        subcommands: [Qemu.self, Network.self])

    struct Qemu: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Handle a qemu hook event; the domain XML comes on stdin. Never prints to stdout.")

        @OptionGroup var global: GlobalOptions

        @Option(name: .long, help: ArgumentHelp("Prefix for libvirt's files (network XML, leases), for tests.", valueName: "dir"))
        var libvirtRoot: String = ""

        @Argument(help: "Domain name.") var guest: String
        @Argument(help: "Operation: prepare, start, started, stopped, release, reconnect, attach, migrate, restore, ...")
        var operation: String
        @Argument(help: "Sub-operation: begin or end.") var subOperation: String
        @Argument(help: "Extra argument(s), '-' when empty.") var extra: [String] = []

        func run() throws {
            // Read all of stdin first: libvirt writes the XML whatever the operation, and
            // migrate/restore must see us consume it and print nothing.
            let xml: Data
            do { xml = try HookInput.stdin() } catch {
                SyslogLog().error("guest \(guest) \(operation): \(error)")
                throw ExitCode(strictOperations.contains(operation) ? 1 : 0)
            }
            // Guests without forwards leave here, before any TOML or XML parsing or kernel
            // access. (The shims' calls leave even earlier, in EarlyHook.)
            let input = HookInput(configPath: global.configPath.path, store: global.store)
            if input.isNoOp(guest: guest, operation: operation) { return }
            let configText = input.configText
            let log = SyslogLog()
            let config: Config
            do { config = try global.loadConfig(text: configText) } catch {
                log.error("guest \(guest) \(operation): \(oneLine(error))")
                throw ExitCode(strictOperations.contains(operation) ? 1 : 0)
            }
            let global = self.global
            let hook = QemuHook(config: config, store: global.store, discovery: AddressDiscovery(paths: LibvirtPaths(root: libvirtRoot)),
                                log: log, backends: { global.backends(config) })
            let status = hook.handle(guest: guest, operation: operation, subOperation: subOperation, xml: xml)
            if status != 0 { throw ExitCode(status) }
        }

        private var strictOperations: Set<String> { ["prepare", "start"] }
    }

    struct Network: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Handle a network hook event. Always exits 0.")

        @OptionGroup var global: GlobalOptions

        @Argument(help: "Network name.") var network: String
        @Argument(help: "Operation: start, started, stopped, port-created, port-deleted, updated.") var operation: String
        @Argument(help: "Sub-operation and extra arguments.") var rest: [String] = []

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
