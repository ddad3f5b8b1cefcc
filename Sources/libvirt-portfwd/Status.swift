import FoundationEssentials
#if canImport(Glibc)
import Glibc
#endif
import PortFwd
import PortFwdCore
import PortFwdSystem

enum Status {
    static let command = Command(
        path: "status",
        abstract: "Show each forward with its counters (DNATed, delivered), and whether packets get through.",
        discussion: "Reads every chain on the forward hook, in every table and family (iptables-legacy included), and names one that "
            + "drops the forwards' traffic whoever the client is. Exit status 0: the kernel matches the plan and packets get through. "
            + "2: a forward is turned away, or its packets were DNATed and none delivered, or the kernel differs from the plan, "
            + "or a record is stale, or a guest waits for its address, or a config forward is left out by a clash; one line per "
            + "problem on stderr. 1: the status could not be read. "
            + "With --prometheus, 0 whenever the metrics were written: health is one of them. "
            + "Without root (members of group libvirt), shows the status the libvirt-portfwd service last published, and how old it is.",
        options: GlobalOptions.specs + [
            .flag("json", "Machine-readable JSON, with the same health object."),
            .flag("prometheus", "Metrics in the Prometheus text format, for node_exporter's textfile collector."),
            .flag("all", "Also show the configured guests that do not run, as virsh list does with its own flag of that name."),
        ],
        positionals: [PositionalSpec(name: "guest", help: "Show only these guests.", repeats: true)],
        examples: ["libvirt-portfwd status web1", "libvirt-portfwd status --json"],
        run: run)

    static func run(_ arguments: Arguments) throws {
        if arguments.flag("json") && arguments.flag("prometheus") {
            throw UsageError(message: "--json and --prometheus exclude each other", command: command)
        }
        let setup = GlobalOptions(arguments).setup
        if geteuid() != 0 { return try published(arguments, store: setup.store) }
        let report: StatusReport
        // A config that does not parse is a problem to report, not a reason to show nothing.
        let (reconciler, configProblem) = setup.tolerantReconciler()
        do {
            let filter = arguments.positionals.isEmpty ? nil : Set(arguments.positionals)
            report = try reconciler.status(showAll: arguments.flag("all"), guests: filter, problems: configProblem.map { [$0] } ?? [])
            if arguments.flag("prometheus") {
                // Written whole or not at all: `status --prometheus > FILE.$$ && mv FILE.$$ FILE`.
                print(PrometheusText(report).text, terminator: "")
                return
            } else if arguments.flag("json") {
                print(try JSONOutput.text(report))
            } else {
                print(report.table, terminator: "")
            }
        } catch {
            throw fail(error)
        }
        report.warnings.forEach { warn("warning: \($0)") }
        report.problems.forEach(warn)
        if !report.healthy { throw ExitStatus(2) }
    }

    /// Published reports older than this mean the service stopped publishing.
    static let staleAfter = 180

    /// Without root: the report the service published (it reads the kernel; we may not).
    static func published(_ arguments: Arguments, store: StateStore) throws {
        let path = "\(store.directory)/\(Publisher.reportName)"
        let found: PublishedStatus?
        do { found = try PublishedStatus.read(store) } catch {
            if error.code == .permission {
                warn("status needs root, or membership of group \(Publisher.readers) "
                    + "to read what the libvirt-portfwd service publishes: \(error.message)")
                throw ExitStatus(77)
            }
            throw fail(error)
        }
        guard let found else {
            warn("status needs root to read the kernel's rules; without root it shows what the libvirt-portfwd service publishes, "
                + "and \(path) does not exist (is the service running? systemctl status libvirt-portfwd)")
            throw ExitStatus(77)
        }
        let report = found.report
        if !arguments.positionals.isEmpty { warn("note: without root every guest is shown") }
        if arguments.flag("all") { warn("note: without root, configured guests that do not run are not shown") }
        if arguments.flag("prometheus") {
            print(PrometheusText(report).text, terminator: "")
            return
        }
        print(arguments.flag("json") ? try JSONOutput.text(report) + "\n" : report.table, terminator: "")
        let stale = found.age > staleAfter
        warn("as the libvirt-portfwd service published it \(found.age) s ago (run as root for the kernel's own view)")
        report.warnings.forEach { warn("warning: \($0)") }
        report.problems.forEach(warn)
        if stale {
            warn("the published status is \(found.age) s old: the libvirt-portfwd service has stopped publishing "
                + "(systemctl status libvirt-portfwd)")
        }
        if !report.healthy || stale { throw ExitStatus(2) }
    }
}
