import ArgumentParser
import PortFwd

struct Flush: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Remove the table and every admission rule. Running guests' records stay.")

    @OptionGroup var global: GlobalOptions

    func run() throws {
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
