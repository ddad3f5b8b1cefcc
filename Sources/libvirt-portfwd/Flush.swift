import FoundationEssentials
#if canImport(Glibc)
import Glibc
#endif
import PortFwd
import PortFwdCore
import PortFwdSystem

enum Flush {
    static let command = Command(
        path: "flush",
        abstract: "Remove the table, our iptables chains and every admission rule; forwards stay off until apply.",
        discussion: "Works without the state directory's lock or a parsing config. Records stay, so the next apply puts back what runs.",
        options: GlobalOptions.specs + [
            .flag("package-removal", "For the package's prerm: the off lasts until the package is configured again, not until the next apply."),
        ],
        needsRoot: true,
        run: run)

    static func run(_ arguments: Arguments) throws {
        let setup = GlobalOptions(arguments).setup
        let log = SyslogLog(echo: .none)
        // The way out must not depend on the config: an unreadable one only loses its settings.
        let config = (try? setup.config()) ?? Config(file: setup.configPath)
        do {
            // Noted before the flush records off: what configuring the package again goes back to.
            let before = setup.store.mode
            let outcome = try setup.reconciler(config, text: nil).reconcile(.flushAll)
            if arguments.flag("package-removal") {
                do { try setup.store.setModeBeforeRemoval(before) } catch {
                    warn("\(error.message); forwards stay off after the package is installed again")
                }
            }
            outcome.warnings.forEach { warn($0.message) }
            let line = "every rule of ours removed; forwards are off until libvirt-portfwd apply"
            print(line)
            log.info("flush: \(line)")
        } catch {
            log.error("flush: \(error.oneLine)")
            throw fail(error)
        }
    }
}
