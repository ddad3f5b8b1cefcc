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
        } catch {
            throw fail(error)
        }
    }
}
