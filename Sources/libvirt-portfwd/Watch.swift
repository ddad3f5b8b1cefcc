import FoundationEssentials
#if canImport(Glibc)
import Glibc
#endif
import PortFwd
import PortFwdCore
import PortFwdSystem

enum Watch {
    static let command = Command(
        path: "watch",
        abstract: "Keep the rules equal to the plan: repair what others flush, follow DHCP leases (libvirt-portfwd.service).",
        discussion: "Applies the config file at start and on SIGHUP (systemctl reload runs apply itself); repairs go back to the config as it "
            + "last applied. Idle until netfilter announces a change by another process, a lease or a running domain changes, "
            + "or, where iptables-legacy tables are loaded, every 10 s. Publishes the status after every change and at least once a minute: "
            + "status in the state directory (group libvirt reads it: status without root) and the Prometheus textfile "
            + "(settings.prometheus-textfile; by default /var/lib/prometheus/node-exporter/libvirt-portfwd.prom when that directory exists).",
        options: GlobalOptions.specs + [.value("log", "where", "syslog (the default; under systemd it reaches the journal) or stderr.",
                                               choices: ["syslog", "stderr"])],
        needsRoot: true,
        run: run)

    static func run(_ arguments: Arguments) throws {
        let setup = GlobalOptions(arguments).setup
        let log: Log = arguments.value("log") == "stderr" ? StderrLog() : SyslogLog(echo: .errors)
        do {
            // Held for the life of the process: hooks see it and let guests without an
            // address start, pending their lease.
            let lock = try setup.store.holdServiceLock()
            defer { close(lock) }
            let watcher = try Watcher(reconcilers: { fromFile throws(PortFwdError) in
                fromFile ? try setup.reconciler() : try setup.reconcilerAsLastApplied()
            }, libvirt: setup.libvirt, log: log, publisher: Publisher())
            let status = watcher.run()
            if status != 0 { throw ExitStatus(status) }
        } catch let error as PortFwdError {
            log.error("watch: \(error.oneLine)")
            throw ExitStatus(1)
        }
    }
}
