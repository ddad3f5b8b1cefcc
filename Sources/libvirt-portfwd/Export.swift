import FoundationEssentials
#if canImport(Glibc)
import Glibc
#endif
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
        let setup = GlobalOptions(arguments).setup
        do {
            let reconciler = try setup.reconciler(probe: false)
            let outcome = try reconciler.plan(all: arguments.flag("all"))
            LogText.capped(outcome.warnings.map(\.message)).forEach(warn)
            print(reconciler.backends.selected.render(outcome.plan), terminator: "")
        } catch {
            throw fail(error)
        }
    }
}
