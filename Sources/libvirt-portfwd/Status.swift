import Foundation
import PortFwd

enum Status {
    static let command = Command(
        path: "status",
        abstract: "Show the forwards of running guests with their traffic counters.",
        options: GlobalOptions.specs + [
            .flag("json", "Machine-readable JSON."),
            .flag("all", "Every configured guest, as installed by apply --all."),
        ],
        run: run)

    static func run(_ arguments: Arguments) throws {
        let global = GlobalOptions(arguments)
        do {
            let reconciler = try global.reconciler()
            let outcome = try reconciler.plan(all: arguments.flag("all"))
            outcome.warnings.forEach(warn)
            let report = StatusReport(plan: outcome.plan, counters: try reconciler.backend.counters())
            if arguments.flag("json") {
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
                print(String(decoding: try encoder.encode(report), as: UTF8.self))
            } else {
                print(report.table, terminator: "")
            }
        } catch {
            throw fail(error)
        }
    }
}
