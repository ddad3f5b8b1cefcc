import Foundation

/// The executables libvirt runs from `hooks/qemu.d/` and `hooks/network.d/`. They only exec
/// the tool; an admin's own `hooks/qemu` script is never touched.
public struct HookShims: Sendable {
    public static let fileName = "libvirt-portfwd"
    static let marker = "# Installed by libvirt-portfwd install-hook"

    public let hooksDirectory: String
    public init(hooksDirectory: String) { self.hooksDirectory = hooksDirectory }

    public func shim(kind: String, binary: String, extraArguments: [String]) -> String {
        let args = ([binary, "hook", kind] + extraArguments).map(Self.shellQuote).joined(separator: " ")
        return """
            #!/bin/sh
            \(Self.marker); removed by uninstall-hook.
            # libvirtd passes: object operation sub-operation extra, and XML on stdin.
            exec \(args) -- "$@"

            """
    }

    /// Writes both shims; returns the paths that changed. Idempotent.
    public func install(binary: String, extraArguments: [String]) throws -> [String] {
        var changed: [String] = []
        for kind in ["qemu", "network"] {
            let dir = "\(hooksDirectory)/\(kind).d"
            let path = "\(dir)/\(Self.fileName)"
            let content = shim(kind: kind, binary: binary, extraArguments: extraArguments)
            if let existing = FileManager.default.contents(atPath: path).map({ String(decoding: $0, as: UTF8.self) }) {
                if existing == content { continue }
                guard existing.contains(Self.marker) else {
                    throw StateError("\(path) exists and was not installed by libvirt-portfwd; not replacing it")
                }
            }
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
            let temp = "\(dir)/.\(Self.fileName).tmp"
            try Data(content.utf8).write(to: URL(fileURLWithPath: temp))
            try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: temp)
            guard rename(temp, path) == 0 else { throw StateError("cannot install \(path)") }
            changed.append(path)
        }
        return changed
    }

    /// Removes our shims (and only ours); returns the paths removed. Idempotent.
    public func uninstall() throws -> [String] {
        var removed: [String] = []
        for kind in ["qemu", "network"] {
            let path = "\(hooksDirectory)/\(kind).d/\(Self.fileName)"
            guard let data = FileManager.default.contents(atPath: path) else { continue }
            guard String(decoding: data, as: UTF8.self).contains(Self.marker) else {
                throw StateError("\(path) was not installed by libvirt-portfwd; not removing it")
            }
            try FileManager.default.removeItem(atPath: path)
            removed.append(path)
        }
        return removed
    }

    static func shellQuote(_ s: String) -> String {
        s.allSatisfy({ $0.isLetter || $0.isNumber || "/._-=".contains($0) }) ? s : "'" + s.replacingOccurrences(of: "'", with: "'\\''") + "'"
    }
}
