import Foundation
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
        let guest: String
        let operation: String
        let subOperation: String

        init(arguments: Arguments) {
            global = GlobalOptions(arguments)
            guest = arguments.positionals[0]
            operation = arguments.positionals[1]
            subOperation = arguments.positionals[2]
        }

        func run() throws {
            let policy = HookPolicy.of(operation)
            // Read all of stdin first: libvirt writes the XML whatever the operation, and
            // migrate/restore must see us consume it and print nothing.
            let xml: Data
            do { xml = try HookInput.stdin() } catch {
                SyslogLog().error("guest \(guest) \(operation): \(error)")
                throw ExitStatus(policy.failureStatus)
            }
            // Guests without forwards leave here, before any TOML or XML parsing or kernel access.
            let input = HookInput(configPath: global.configPath.path, store: global.store)
            if input.isNoOp(guest: guest, operation: operation) { return }
            let log = SyslogLog()
            guard let reconciler = reconciler(input, policy: policy, log: log) else { throw ExitStatus(policy.failureStatus) }
            let status = QemuHook(reconciler: reconciler, log: log).handle(guest: guest, operation: operation, subOperation: subOperation, xml: xml)
            if status != 0 { throw ExitStatus(status) }
        }

        /// The config as it is on disk. When it does not parse, operations that must not fail
        /// go on with the last config that applied (stopping a guest must still remove its
        /// forwards); the others fail with the config's own message.
        private func reconciler(_ input: HookInput, policy: HookPolicy, log: Log) -> Reconciler? {
            do {
                return global.reconciler(try global.loadConfig(text: .some(try input.configText())).0, text: try input.configText())
            } catch {
                let problem = "guest \(guest) \(operation): \(error.oneLine)"
                guard policy == .neverFails, let last = global.store.lastConfig, let config = try? Config.parse(last, file: "\(global.configPath.path) (as last applied)") else {
                    log.error(problem)
                    return nil
                }
                log.warning("\(problem); using the config as it last applied")
                return global.reconciler(config, text: nil)
            }
        }
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
                _ = NetworkHook(reconciler: try global.reconciler(), log: log).handle(network: network, operation: operation)
            } catch {
                log.error("network \(network) \(operation): \(error.oneLine)")
            }
        }
    }
}
