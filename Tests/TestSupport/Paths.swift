import Foundation

/// Where the package and the built binary are.
public enum Paths {
    /// Found from this file's own path (Tests/TestSupport/Paths.swift), wherever the tests run.
    public static let root: String = {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().path
    }()

    public static let binary: String = {
        if let env = ProcessInfo.processInfo.environment["LIBVIRT_PORTFWD_BIN"], !env.isEmpty { return env }
        return "\(root)/.build/debug/libvirt-portfwd"
    }()

    public static let rulesets = "\(root)/rulesets"
}
