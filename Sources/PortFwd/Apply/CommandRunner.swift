import Foundation

/// The seam for running other programs (iptables-save, iptables-restore). Tests record calls.
public protocol CommandRunner: Sendable {
    func run(_ argv: [String], input: String?) throws(CommandError) -> CommandResult
}

public struct CommandResult: Sendable, Equatable {
    public let status: Int32
    public let stdout: String
    public let stderr: String
    public init(status: Int32, stdout: String, stderr: String) {
        self.status = status
        self.stdout = stdout
        self.stderr = stderr
    }
}

public struct CommandError: Error, Sendable, CustomStringConvertible {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// Runs programs directly (no shell), found in the system directories: libvirtd starts hooks
/// with a minimal environment, so PATH cannot be trusted to hold /usr/sbin.
public struct ProcessRunner: CommandRunner {
    static let directories = ["/usr/sbin", "/usr/bin", "/sbin", "/bin", "/usr/local/sbin", "/usr/local/bin"]

    public init() {}

    public static func locate(_ name: String) -> String? {
        if name.hasPrefix("/") { return name }
        return directories.map { "\($0)/\(name)" }.first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    public func run(_ argv: [String], input: String?) throws(CommandError) -> CommandResult {
        guard let path = Self.locate(argv[0]) else { throw CommandError("\(argv[0]): not installed") }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = Array(argv.dropFirst())
        let out = Pipe(), err = Pipe(), inp = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = input == nil ? FileHandle.nullDevice : inp
        do { try process.run() } catch { throw CommandError("\(argv[0]): \(error.localizedDescription)") }
        if let input {
            // Write from another thread: a large restore input must not deadlock against a full stdout pipe.
            let writer = inp.fileHandleForWriting
            let data = Data(input.utf8)
            DispatchQueue.global().async {
                writer.write(data)
                try? writer.close()
            }
        }
        let errData = LockedData()
        let group = DispatchGroup()
        group.enter()
        DispatchQueue.global().async {
            errData.set(err.fileHandleForReading.readDataToEndOfFile())
            group.leave()
        }
        let outData = out.fileHandleForReading.readDataToEndOfFile()
        group.wait()
        process.waitUntilExit()
        return CommandResult(status: process.terminationStatus,
                             stdout: String(decoding: outData, as: UTF8.self),
                             stderr: String(decoding: errData.get(), as: UTF8.self))
    }
}

private final class LockedData: @unchecked Sendable {
    private let lock = NSLock()
    private var data = Data()
    func set(_ d: Data) { lock.lock(); data = d; lock.unlock() }
    func get() -> Data { lock.lock(); defer { lock.unlock() }; return data }
}
