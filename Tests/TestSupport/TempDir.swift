import Foundation

/// A temporary directory removed when the value goes away.
public final class TempDir: @unchecked Sendable {
    public let path: String
    public init() {
        path = NSTemporaryDirectory() + "pf-test-" + UUID().uuidString
        try! FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
    }
    deinit { try? FileManager.default.removeItem(atPath: path) }

    public func write(_ relative: String, _ text: String) {
        let full = "\(path)/\(relative)"
        try! FileManager.default.createDirectory(atPath: (full as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try! text.write(toFile: full, atomically: true, encoding: .utf8)
    }
}
