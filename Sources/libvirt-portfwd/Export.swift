import ArgumentParser
import PortFwd

struct Export: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print the ruleset to stdout.",
        discussion: "Without --all it covers the running guests; with --all every configured guest, for loading at boot (nft -f).")

    @OptionGroup var global: GlobalOptions

    @Flag(name: .long, help: "Every configured guest, running or not.")
    var all = false

    func run() throws {
        do {
            let reconciler = try global.reconciler()
            let outcome = try reconciler.plan(all: all)
            outcome.warnings.forEach(warn)
            print(reconciler.backend.render(outcome.plan), terminator: "")
        } catch {
            throw fail(error)
        }
    }
}
