import ArgumentParser
import PortFwd

struct Apply: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Install the ruleset, replacing the previous one in one transaction.")

    @OptionGroup var global: GlobalOptions

    @Flag(name: .long, help: "Every configured guest, running or not.")
    var all = false

    func run() throws {
        do {
            let outcome = try global.reconciler().apply(all: all)
            outcome.warnings.forEach(warn)
            let forwards = outcome.plan.guests.reduce(0) { $0 + $1.forwards.count }
            print("installed \(forwards) forward\(forwards == 1 ? "" : "s") of \(outcome.plan.guests.count) guest\(outcome.plan.guests.count == 1 ? "" : "s")"
                + (outcome.notes.isEmpty ? "" : "; " + outcome.notes.joined(separator: "; ")))
        } catch {
            throw fail(error)
        }
    }
}
