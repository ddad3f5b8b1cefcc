import ArgumentParser
import PortFwd

struct Flush: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Remove the table and every admission rule. Running guests' records stay.")

    @OptionGroup var global: GlobalOptions

    func run() throws {
        do {
            let config = try global.loadConfig()
            let backend = global.backend(config)
            try global.store.withLock { try backend.remove() }
        } catch {
            throw fail(error)
        }
    }
}
