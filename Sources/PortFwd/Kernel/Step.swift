import PortFwdCore

/// One change to the kernel or the records, with the change that puts things back.
public struct Step: Sendable {
    public let name: String
    let forward: @Sendable () throws(PortFwdError) -> Void
    let backward: @Sendable () throws(PortFwdError) -> Void

    public init(_ name: String, apply: @escaping @Sendable () throws(PortFwdError) -> Void,
                undo: @escaping @Sendable () throws(PortFwdError) -> Void) {
        self.name = name
        self.forward = apply
        self.backward = undo
    }
}

public enum Steps {
    /// Runs the steps in order. When one fails, the ones before it are undone in reverse order
    /// and the failure is thrown; if an undo fails too, the error says so and is `.partial`.
    public static func run(_ steps: [Step]) throws(PortFwdError) {
        var done: [Step] = []
        for step in steps {
            do {
                try step.forward()
                done.append(step)
            } catch {
                var failures: [String] = []
                for undone in done.reversed() {
                    do { try undone.backward() } catch { failures.append("undoing \(undone.name): \(error.message)") }
                }
                if failures.isEmpty {
                    throw PortFwdError(error.code, "\(step.name): \(error.message); nothing changed")
                }
                throw PortFwdError(.partial, "\(step.name): \(error.message); and the rollback failed: \(failures.joined(separator: "; "))")
            }
        }
    }
}
