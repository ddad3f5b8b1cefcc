import PortFwd

enum Export {
    static let command = Command(
        path: "export",
        abstract: "Print the ruleset to stdout.",
        discussion: "Without --all it covers the running guests; with --all every configured guest, for loading at boot (nft -f).",
        options: GlobalOptions.specs + [.flag("all", "Every configured guest, running or not.")],
        run: run)

    static func run(_ arguments: Arguments) throws {
        let global = GlobalOptions(arguments)
        do {
            let reconciler = try global.reconciler()
            let outcome = try reconciler.plan(all: arguments.flag("all"))
            outcome.warnings.forEach(warn)
            print(reconciler.backend.render(outcome.plan), terminator: "")
        } catch {
            throw fail(error)
        }
    }
}
