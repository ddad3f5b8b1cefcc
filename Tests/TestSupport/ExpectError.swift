import Testing

/// The error `body` throws, recorded as an issue if it throws none or another type. What
/// `let error = #expect(throws:)` does from Swift 6.1 on; written out so that Debian 13's
/// Swift 6.0 builds the tests too.
@discardableResult
public func expectError<E: Error>(_ type: E.Type, _ comment: Comment? = nil, sourceLocation: SourceLocation = #_sourceLocation,
                           _ body: () throws -> Void) -> E? {
    do {
        try body()
    } catch let error as E {
        return error
    } catch {
        Issue.record("expected \(E.self), got \(error)\(comment.map { ": \($0)" } ?? "")", sourceLocation: sourceLocation)
        return nil
    }
    Issue.record("expected \(E.self) to be thrown\(comment.map { ": \($0)" } ?? "")", sourceLocation: sourceLocation)
    return nil
}
