import ArgumentParser
import PortFwd

struct Check: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Validate the config; exit 0 when valid, 1 with one line per problem otherwise.")

    @OptionGroup var global: GlobalOptions

    @Flag(name: .long, help: "Also dry-run the full ruleset (every configured guest) in the kernel.")
    var kernel = false

    func run() throws {
        do {
            let reconciler = try global.reconciler()
            let outcome = try reconciler.plan(all: true)
            outcome.warnings.forEach(warn)
            if kernel { try reconciler.backend.validate(outcome.plan) }
        } catch {
            throw fail(error)
        }
    }
}
