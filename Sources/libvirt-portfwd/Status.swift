import ArgumentParser
import Foundation
import PortFwd

struct Status: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show the forwards of running guests with their traffic counters.")

    @OptionGroup var global: GlobalOptions

    @Flag(name: .long, help: "Machine-readable JSON.")
    var json = false

    @Flag(name: .long, help: "Every configured guest, as installed by apply --all.")
    var all = false

    func run() throws {
        do {
            let reconciler = try global.reconciler()
            let outcome = try reconciler.plan(all: all)
            outcome.warnings.forEach(warn)
            let report = StatusReport(plan: outcome.plan, counters: try reconciler.backend.counters())
            if json {
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
