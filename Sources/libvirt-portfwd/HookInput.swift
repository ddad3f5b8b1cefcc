import Foundation
import PortFwd
import PortFwdCore
import PortFwdSystem

/// What a qemu hook call reads before deciding anything: the domain XML on stdin and the
/// config file's bytes, each read once per process and shared by the no-op triage and the
/// full path, with plain read(2) (no FileHandle/FileManager on the path most calls take).
struct HookInput {
    let configPath: String
    let store: StateStore

    /// The config file's text; nil when it is absent.
    func configText() throws(PortFwdError) -> String? {
        let bytes: [UInt8]?
        do { bytes = try Self.file(configPath) } catch { throw PortFwdError(.io, "\(error)") }
        guard let bytes else { return nil }
        guard let text = String(validating: bytes, as: UTF8.self) else { throw PortFwdError(.invalidInput, "\(configPath): not UTF-8 text") }
        return text
    }

    /// See Triage. A config file that exists but cannot be read as UTF-8 text is never taken
    /// for "no config": the full path reports it.
    func isNoOp(guest: String, operation: String) -> Bool {
        guard let xml = try? Self.stdin() else { return false }
        let bytes: [UInt8]?
        do { bytes = try Self.file(configPath) } catch { return false }
        var text: String?
        if let bytes {
            guard let valid = String(validating: bytes, as: UTF8.self) else { return false }
            text = valid
        }
        return Triage.isNoOp(operation: operation, guest: guest, xml: xml, configText: text, store: store)
    }

    nonisolated(unsafe) private static var stdinRead: Result<Data, Error>?
    nonisolated(unsafe) private static var filesRead: [String: Result<[UInt8]?, Error>] = [:]

    /// All of stdin, up to the XML size bound; more than that is refused rather than buffered.
    static func stdin() throws -> Data {
        if let stdinRead { return try stdinRead.get() }
        let result = Result { () throws -> Data in
            guard let bytes = try readAll(fd: 0, limit: XMLParser.maximumSize) else { throw InputTooLarge() }
            return Data(bytes)
        }
        stdinRead = result
        return try result.get()
    }

    /// The file's bytes, nil when it does not exist.
    static func file(_ path: String) throws -> [UInt8]? {
        if let read = filesRead[path] { return try read.get() }
        let result = Result { () throws -> [UInt8]? in
            let fd = open(path, O_RDONLY | O_CLOEXEC)
            if fd < 0 {
                if errno == ENOENT { return nil }
                throw PortFwdError(.io, "cannot read \(path): \(String(cString: strerror(errno)))")
            }
            defer { close(fd) }
            guard let bytes = try readAll(fd: fd, limit: 64 << 20) else { throw PortFwdError(.invalidInput, "\(path) is too large") }
            return bytes
        }
        filesRead[path] = result
        return try result.get()
    }

    /// Reads to end of file; nil when there are more than `limit` bytes.
    private static func readAll(fd: Int32, limit: Int) throws -> [UInt8]? {
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 64 << 10)
        while true {
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                throw PortFwdError(.io, "cannot read: \(String(cString: strerror(errno)))")
            }
            if n == 0 { return bytes }
            bytes += chunk[..<n]
            if bytes.count > limit { return nil }
        }
    }
}

struct InputTooLarge: Error, CustomStringConvertible {
    var description: String { "stdin is larger than \(XMLParser.maximumSize) bytes; refusing it" }
}
