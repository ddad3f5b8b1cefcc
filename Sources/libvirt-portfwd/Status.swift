import FoundationEssentials
#if canImport(Glibc)
import Glibc
#endif
import PortFwd
import PortFwdCore

enum Status {
    static let command = Command(
        path: "status",
        abstract: "Show each forward with its counters (DNATed, delivered), and whether packets get through.",
        discussion: "Reads every chain on the forward hook, in every table and family (iptables-legacy included), and names one that "
            + "drops the forwards' traffic whoever the client is. Exit status 0: the kernel matches the plan and packets get through. "
            + "2: a forward is turned away, or its packets were DNATed and none delivered, or the kernel differs from the plan, "
            + "or a record is stale, or a guest waits for its address, or a config forward is left out by a clash; one line per "
            + "problem on stderr. 1: the status could not be read. "
            + "With --prometheus, 0 whenever the metrics were written: health is one of them.",
        options: GlobalOptions.specs + [
            .flag("json", "Machine-readable JSON, with the same health object."),
            .flag("prometheus", "Metrics in the Prometheus text format, for node_exporter's textfile collector."),
            .flag("all", "Also show the configured guests that do not run, as virsh list does with its own flag of that name."),
        ],
        positionals: [PositionalSpec(name: "guest", help: "Show only these guests.", repeats: true)],
        needsRoot: true,
        examples: ["libvirt-portfwd status web1",
                   "cd /var/lib/prometheus/node-exporter && libvirt-portfwd status --prometheus > libvirt-portfwd.prom.new && mv libvirt-portfwd.prom.new libvirt-portfwd.prom"],
        run: run)

    static func run(_ arguments: Arguments) throws {
        if arguments.flag("json") && arguments.flag("prometheus") {
            throw UsageError(message: "--json and --prometheus exclude each other", command: command)
        }
        let setup = GlobalOptions(arguments).setup
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
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
                print(String(decoding: try encoder.encode(report), as: UTF8.self))
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
}
