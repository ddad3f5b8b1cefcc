import Foundation

/// Runs shell commands for the end-to-end labs. Failures throw with the command and its stderr.
enum Shell {
    struct Failure: Error, CustomStringConvertible {
        let command: String
        let status: Int32
        let output: String
        var description: String { "`\(command)` exited \(status): \(output)" }
    }

    struct Result {
        let status: Int32
        let stdout: String
        let stderr: String
    }

    @discardableResult
    static func run(_ command: String, input: String? = nil) throws -> String {
        let r = capture(command, input: input)
        guard r.status == 0 else { throw Failure(command: command, status: r.status, output: (r.stderr + r.stdout).trimmingCharacters(in: .whitespacesAndNewlines)) }
        return r.stdout
    }

    static func capture(_ command: String, input: String? = nil) -> Result {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", command]
        let out = Pipe(), err = Pipe(), inp = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = input == nil ? FileHandle.nullDevice : inp
        do { try process.run() } catch { return Result(status: -1, stdout: "", stderr: "\(error)") }
        if let input {
            inp.fileHandleForWriting.write(Data(input.utf8))
            try? inp.fileHandleForWriting.close()
        }
        let errBox = Box()
        let group = DispatchGroup()
        group.enter()
        DispatchQueue.global().async {
            errBox.data = err.fileHandleForReading.readDataToEndOfFile()
            group.leave()
        }
        let outData = out.fileHandleForReading.readDataToEndOfFile()
        group.wait()
        process.waitUntilExit()
        return Result(status: process.terminationStatus, stdout: String(decoding: outData, as: UTF8.self),
                      stderr: String(decoding: errBox.data, as: UTF8.self))
    }

    private final class Box: @unchecked Sendable { var data = Data() }
}

/// Where the package and the built binary are.
enum Paths {
    static let root: String = {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent().path
    }()

    static let binary: String = {
        if let env = ProcessInfo.processInfo.environment["LIBVIRT_PORTFWD_BIN"], !env.isEmpty { return env }
        return "\(root)/.build/debug/libvirt-portfwd"
    }()

    static let rulesets = "\(root)/rulesets"
}
