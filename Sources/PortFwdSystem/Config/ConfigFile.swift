import Foundation
import PortFwdCore

/// Reading the config file: the bytes come from disk here, the meaning from `Config.parse`.
public enum ConfigFile {
    /// Reads and validates a config file. A missing file is only acceptable at the default
    /// path, where it means "no config forwards" (metadata may still declare some).
    public static func load(path: String, required: Bool) throws(PortFwdError) -> Config {
        guard let text = try read(path: path, required: required) else { return Config(file: path) }
        return try Config.parse(text, file: path)
    }

    /// The file's text; nil when it is absent and not required.
    public static func read(path: String, required: Bool) throws(PortFwdError) -> String? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        if fd < 0 {
            if errno == ENOENT && !required { return nil }
            throw PortFwdError(errno == ENOENT ? .notFound : .io, "\(path): cannot read the file: \(String(cString: strerror(errno)))")
        }
        defer { close(fd) }
        let bytes = try SafeFile.readAll(fd, path: path, limit: 64 << 20)
        guard let text = String(validating: bytes, as: UTF8.self) else {
            throw PortFwdError(.invalidInput, "\(path): not UTF-8 text")
        }
        return text
    }
}
