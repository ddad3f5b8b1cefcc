import PortFwd

enum Check {
    static let command = Command(
        path: "check",
        abstract: "Validate the config; exit 0 when valid, 1 with one line per problem otherwise.",
        options: GlobalOptions.specs + [.flag("kernel", "Also dry-run the full ruleset (every configured guest) in the kernel.")],
        run: run)

    static func run(_ arguments: Arguments) throws {
        let global = GlobalOptions(arguments)
        do {
            let reconciler = try global.reconciler()
            let outcome = try reconciler.plan(all: true)
            outcome.warnings.forEach(warn)
            if arguments.flag("kernel") { try reconciler.backend.validate(outcome.plan) }
        } catch {
            throw fail(error)
        }
    }
}
