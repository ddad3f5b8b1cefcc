import FoundationEssentials
#if canImport(Glibc)
import Glibc
#endif
import PortFwdCore
import PortFwdSystem

/// The executables libvirt runs from `hooks/qemu.d/` and `hooks/network.d/`. They only run
/// the tool; an admin's own `hooks/qemu` script is never touched.
public struct HookShims: Sendable {
    public static let fileName = "libvirt-portfwd"
    static let marker = "# Installed by libvirt-portfwd install-hook"
    /// The qemu operations that must exit 0 whatever the tool does (HookOperation.neverFails).
    static let neverFail = HookOperation.acting.filter(\.neverFails).map(\.name)

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

    /// Where install notes the directories it created, so that uninstall removes those and
    /// never one the admin had made. A dot file: libvirt runs only `qemu`, `network` and
    /// what is in the `.d` directories.
    var createdList: String { "\(hooksDirectory)/.libvirt-portfwd-created" }

    /// Writes both shims; returns the paths that changed. Idempotent.
    public func install(binary: String, extraArguments: [String]) throws(PortFwdError) -> [String] {
        var changed: [String] = []
        var created = try createdDirectories()
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
            for d in [hooksDirectory, dir] where access(d, F_OK) != 0 && !created.contains(d) { created.append(d) }
            try SafeFile.directory(dir, create: true, mode: 0o755)
            try SafeFile.write(createdList, Array(created.map { $0 + "\n" }.joined().utf8), mode: 0o644)
            try SafeFile.write(path, Array(content.utf8), mode: 0o755)
            changed.append(path)
        }
        return changed
    }

    /// Removes our shims (and only ours), then the directories install created, if empty;
    /// returns the paths removed. Idempotent.
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
        let created = try createdDirectories()
        try SafeFile.remove(createdList)
        // Deepest first; one that holds anything now (the admin's own hooks) stays.
        for dir in created.sorted(by: { $0.count > $1.count }) where rmdir(dir) == 0 { removed.append(dir) }
        return removed
    }

    /// The directories install created, as noted; only paths inside the hooks directory (or
    /// the hooks directory itself) are ever believed.
    func createdDirectories() throws(PortFwdError) -> [String] {
        guard let bytes = try SafeFile.read(createdList, limit: 4096) else { return [] }
        let allowed = [hooksDirectory, "\(hooksDirectory)/qemu.d", "\(hooksDirectory)/network.d"]
        return String(decoding: bytes, as: UTF8.self).split(separator: "\n").map(String.init).filter(allowed.contains)
    }

    /// A shim's text, read without following a symlink planted in its place.
    private func existing(_ path: String) throws(PortFwdError) -> String? {
        guard let bytes = try SafeFile.read(path, limit: 1 << 16) else { return nil }
        return String(decoding: bytes, as: UTF8.self)
    }

    static func shellQuote(_ s: String) -> String {
        s.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "/._-=".contains($0)) }) ? s : "'" + s.replacing("'", with: "'\\''") + "'"
    }
}
