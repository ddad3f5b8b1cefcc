import PortFwd

enum Apply {
    static let command = Command(
        path: "apply",
        abstract: "Install the ruleset, replacing the previous one in one transaction.",
        options: GlobalOptions.specs + [.flag("all", "Every configured guest, running or not.")],
        run: run)

    static func run(_ arguments: Arguments) throws {
        let global = GlobalOptions(arguments)
        do {
            let outcome = try global.reconciler().apply(all: arguments.flag("all"))
            outcome.warnings.forEach(warn)
            let forwards = outcome.plan.guests.reduce(0) { $0 + $1.forwards.count }
            print("installed \(forwards) forward\(forwards == 1 ? "" : "s") of \(outcome.plan.guests.count) guest\(outcome.plan.guests.count == 1 ? "" : "s")"
                + (outcome.notes.isEmpty ? "" : "; " + outcome.notes.joined(separator: "; ")))
        } catch {
            throw fail(error)
        }
    }
}
