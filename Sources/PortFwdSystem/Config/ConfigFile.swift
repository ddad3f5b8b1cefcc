import FoundationEssentials
#if canImport(Glibc)
import Glibc
#endif
import PortFwdCore

/// Reading the config file: the bytes come from disk here, the meaning from `Config.parse`.
public enum ConfigFile {
    /// Reads and validates a config file. A missing file is only acceptable at the default
    /// path, where it means "no config forwards" (metadata may still declare some).
    public static func load(path: String, required: Bool) throws(PortFwdError) -> Config {
        guard let text = try read(path: path, required: required) else { return Config(file: path) }
        return try Config.parse(text, file: path)
    }

    /// The drop-in directory beside a config file: `portfwd.d` next to `portfwd.toml`.
    public static func dropInDirectory(of config: String) -> String {
        let parent = SafeFile.parent(of: config)
        return (parent.isEmpty ? "." : parent == "/" ? "" : parent) + "/portfwd.d"
    }

    /// The drop-ins, `*.toml` in name order; none when the directory is absent. The directory
    /// is held to the state directory's rules (root's, not writable by group or others), and a
    /// `.toml` whose name is not letters, digits and `._+@:-` is refused, naming it: a drop-in
    /// is an admin's file, and its name goes into messages and the config's bundle.
    public static func dropIns(in directory: String) throws(PortFwdError) -> [String] {
        guard let names = Directory.names(directory) else { return [] }
        try SafeFile.directory(directory, create: false)
        let candidates = names.filter { $0.hasSuffix(".toml") && !$0.hasPrefix(".") }.sorted()
        let odd = candidates.filter { !$0.utf8.allSatisfy(isNameByte) }
        guard odd.isEmpty else {
            throw PortFwdError(.invalidInput, lines: odd.map {
                "\(directory)/\(LogText.line($0)): not read: a drop-in's name is letters, digits and ._+@:- ending in .toml"
            })
        }
        return candidates.map { "\(directory)/\($0)" }
    }

    /// Whether the service reads a file of this name in the drop-in directory, and takes it.
    public static func isDropInName(_ name: String) -> Bool {
        name.hasSuffix(".toml") && !name.hasPrefix(".") && name.utf8.allSatisfy(isNameByte)
    }

    static func isNameByte(_ b: UInt8) -> Bool {
        (b >= 0x30 && b <= 0x39) || (b | 0x20 >= 0x61 && b | 0x20 <= 0x7a)
            || b == 0x2e || b == 0x5f || b == 0x2b || b == 0x40 || b == 0x3a || b == 0x2d
    }

    /// The file's text; nil when it is absent and not required. `trust`: `.strict` for a
    /// drop-in (root's, not writable by group or others, never through a symlink).
    public static func read(path: String, required: Bool, trust: SafeFile.Trust = .regularFile) throws(PortFwdError) -> String? {
        let read: [UInt8]?
        do { read = try SafeFile.read(path, limit: ConfigFiles.maximumSize, trust: trust) } catch {
            throw PortFwdError(error.code, "\(path): cannot read the file: \(error.message)")
        }
        guard let bytes = read else {
            if !required { return nil }
            throw PortFwdError(.notFound, "\(path): cannot read the file: No such file or directory")
        }
        guard let text = String(validating: bytes, as: UTF8.self) else {
            throw PortFwdError(.invalidInput, "\(path): not UTF-8 text")
        }
        return text
    }
}
