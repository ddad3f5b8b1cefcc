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

    /// The drop-ins, `*.toml` in name order; none when the directory is absent.
    public static func dropIns(in directory: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? [])
            .filter { $0.hasSuffix(".toml") && !$0.hasPrefix(".") }.sorted().map { "\(directory)/\($0)" }
    }

    /// The file's text; nil when it is absent and not required.
    public static func read(path: String, required: Bool) throws(PortFwdError) -> String? {
        let read: [UInt8]?
        do { read = try SafeFile.read(path, limit: 64 << 20, trust: .regularFile) } catch {
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
