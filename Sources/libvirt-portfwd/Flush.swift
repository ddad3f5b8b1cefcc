import PortFwd

enum Flush {
    static let command = Command(
        path: "flush",
        abstract: "Remove the table and every admission rule. Running guests' records stay.",
        options: GlobalOptions.specs,
        run: run)

    static func run(_ arguments: Arguments) throws {
        let global = GlobalOptions(arguments)
        do {
            let config = try global.loadConfig()
            let (backend, retired) = global.backends(config)
            // Every strategy's rules go, whichever is selected now.
            try global.store.withLock {
                try backend.remove()
                for other in retired { try other.removeOwnRules() }
            }
        } catch {
            throw fail(error)
        }
    }
}
