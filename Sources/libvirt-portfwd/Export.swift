import Foundation
import PortFwd
import PortFwdCore

enum Export {
    static let command = Command(
        path: "export",
        abstract: "Print the ruleset to stdout; needs no kernel and no root.",
        discussion: "Without --all it covers the recorded guests; with --all every configured guest too. "
            + "The format follows --backend and settings.backend (auto prints nftables).",
        options: GlobalOptions.specs + [.flag("all", "Every configured guest, running or not.")],
        run: run)

    static func run(_ arguments: Arguments) throws {
        let global = GlobalOptions(arguments)
        do {
            let reconciler = try global.reconciler(probe: false)
            let outcome = try reconciler.plan(all: arguments.flag("all"))
            outcome.warnings.forEach { warn($0.message) }
            print(global.backends(reconciler.config.settings, probe: false)().selected.render(outcome.plan), terminator: "")
        } catch {
            throw fail(error)
        }
    }
}
