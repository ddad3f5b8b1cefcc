import Foundation
import PortFwdCore
import PortFwdSystem

/// The executables libvirt runs from `hooks/qemu.d/` and `hooks/network.d/`. They only run
/// the tool; an admin's own `hooks/qemu` script is never touched.
public struct HookShims: Sendable {
    public static let fileName = "libvirt-portfwd"
    static let marker = "# Installed by libvirt-portfwd install-hook"
    /// The qemu operations that must exit 0 whatever the tool does (see HookPolicy): the shim
    /// itself guarantees it, because a process can die in ways no code of ours sees
    /// (libnftables calls exit() when an allocation fails).
    static let neverFail = ["stopped", "release", "reconnect", "attach"]

    public let hooksDirectory: String
    public init(hooksDirectory: String) { self.hooksDirectory = hooksDirectory }

    public func shim(kind: String, binary: String, extraArguments: [String]) -> String {
        let command = ([binary, "hook", kind] + extraArguments).map(Self.shellQuote).joined(separator: " ") + " -- \"$@\""
        let header = """
            #!/bin/sh
            \(Self.marker); removed by uninstall-hook.
            # libvirtd passes: object operation sub-operation extra, and XML on stdin.

            """
        if kind == "network" {
            return header + """
                # Nothing here may stop a network.
                \(command) || true
                exit 0

                """
        }
        return header + """
            case "$2" in
            \(Self.neverFail.joined(separator: "|")))
                # Never a failure: libvirt kills a guest whose reconnect hook fails.
                \(command) || true
                exit 0 ;;
            esac
            exec \(command)

            """
    }

    /// Writes both shims; returns the paths that changed. Idempotent.
    public func install(binary: String, extraArguments: [String]) throws(PortFwdError) -> [String] {
        var changed: [String] = []
        for kind in ["qemu", "network"] {
            let dir = "\(hooksDirectory)/\(kind).d"
            let path = "\(dir)/\(Self.fileName)"
            let content = shim(kind: kind, binary: binary, extraArguments: extraArguments)
            if let existing = try existing(path) {
                if existing == content { continue }
                guard existing.contains(Self.marker) else {
                    throw PortFwdError(.exists, "\(path) exists and was not installed by libvirt-portfwd; not replacing it")
                }
            }
            try SafeFile.directory(dir, create: true, mode: 0o755)
            try SafeFile.write(path, Array(content.utf8), mode: 0o755)
            changed.append(path)
        }
        return changed
    }

    /// Removes our shims (and only ours); returns the paths removed. Idempotent.
    public func uninstall() throws(PortFwdError) -> [String] {
        var removed: [String] = []
        for kind in ["qemu", "network"] {
            let path = "\(hooksDirectory)/\(kind).d/\(Self.fileName)"
            guard let text = try existing(path) else { continue }
            guard text.contains(Self.marker) else {
                throw PortFwdError(.exists, "\(path) was not installed by libvirt-portfwd; not removing it")
            }
            try SafeFile.remove(path)
            removed.append(path)
        }
        return removed
    }

    /// A shim's text, read without following a symlink planted in its place.
    private func existing(_ path: String) throws(PortFwdError) -> String? {
        guard let bytes = try SafeFile.read(path, limit: 1 << 16) else { return nil }
        return String(decoding: bytes, as: UTF8.self)
    }

    static func shellQuote(_ s: String) -> String {
        s.allSatisfy({ $0.isLetter || $0.isNumber || "/._-=".contains($0) }) ? s : "'" + s.replacingOccurrences(of: "'", with: "'\\''") + "'"
    }
}
