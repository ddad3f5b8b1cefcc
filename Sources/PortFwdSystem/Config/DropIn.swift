import FoundationEssentials
import PortFwdCore
#if canImport(Glibc)
import Glibc
#endif

/// A guest's file in the config's drop-in directory, as `forward add` writes it: one
/// `[[guest]]` table, printed from typed values, under a header that marks it as ours. A file
/// without that header is the admin's own, and is never rewritten.
public struct DropIn: Sendable {
    public static let header = "# Written by libvirt-portfwd forward add; `forward add` and `forward remove` edit it.\n"
        + "# Edit it by hand too, or remove this header to keep the tool out of it.\n"

    public let directory: String

    public init(directory: String) { self.directory = directory }

    /// The file for a domain: named after it when the name is a plain word, else its UUID.
    /// A name spelled like a UUID is never plain: the file of the domain with that UUID.
    public func path(for name: GuestName, uuid: DomainUUID) -> String {
        let plain = !name.value.isEmpty && name.value.utf8.count <= 64 && !name.value.hasPrefix(".")
            && name.value.utf8.allSatisfy {
                ($0 >= 0x30 && $0 <= 0x39) || ($0 | 0x20 >= 0x61 && $0 | 0x20 <= 0x7a) || $0 == 0x2d || $0 == 0x5f || $0 == 0x2e
            }
            && (try? DomainUUID(name.value)) == nil
        return plain ? "\(directory)/\(name.value).toml" : uuidPath(uuid)
    }

    /// The file named after the domain's UUID: one per domain, whatever its name.
    public func uuidPath(_ uuid: DomainUUID) -> String { "\(directory)/\(uuid.value).toml" }

    /// The file's text, whoever wrote it (nil: absent).
    public func text(_ path: String) throws(PortFwdError) -> String? {
        guard let bytes = try SafeFile.read(path, limit: 1 << 20, trust: .regularFile) else { return nil }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// The file's text as it is now (nil: absent), refused when it is not ours.
    public func current(_ path: String) throws(PortFwdError) -> String? {
        guard let text = try text(path) else { return nil }
        guard text.hasPrefix(Self.header) else {
            throw PortFwdError(.exists, "\(path) was written by hand (it lacks the header forward add writes); edit it there")
        }
        return text
    }

    /// Drop-ins name guests, pinned UUIDs, ports and the client networks allowed in: root's
    /// to read, as the directory's listing of guest names is.
    public static let fileMode: mode_t = 0o640
    public static let directoryMode: mode_t = 0o750

    /// Writes the entry (or, with no forwards left, removes the file).
    public func write(_ entry: GuestConfig, to path: String) throws(PortFwdError) {
        if entry.forwards.isEmpty && entry.address4 == nil && entry.address6 == nil {
            try SafeFile.remove(path)
            return
        }
        try SafeFile.directory(directory, create: true, mode: Self.directoryMode)
        try SafeFile.write(path, Array((Self.header + entry.tomlText).utf8), mode: Self.fileMode)
    }

    /// Puts the file back as `text` had it (nil: absent).
    public func restore(_ path: String, _ text: String?) throws(PortFwdError) {
        if let text { try SafeFile.write(path, Array(text.utf8), mode: Self.fileMode) } else { try SafeFile.remove(path) }
    }
}
