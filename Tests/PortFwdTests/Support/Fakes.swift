import Foundation
@testable import PortFwd

/// A backend that records what it was asked to do and can be told to fail.
final class RecordingBackend: FirewallBackend, @unchecked Sendable {
    let name = "recording"
    private let lock = NSLock()
    private var _applied: [Plan] = []
    var failApply: String?

    var applied: [Plan] { lock.withLock { _applied } }

    func render(_ plan: Plan) -> String { NftRenderer().render(plan) }

    func apply(_ plan: Plan) throws(FirewallError) -> [String] {
        if let failApply { throw FirewallError(failApply) }
        lock.withLock { _applied.append(plan) }
        return []
    }

    func validate(_ plan: Plan) throws(FirewallError) {}
    func remove() throws(FirewallError) {}
    func removeOwnRules() throws(FirewallError) {}
    func counters() throws(FirewallError) -> [EndpointCounter]? { nil }
}

final class RecordingLog: HookLog, @unchecked Sendable {
    private let lock = NSLock()
    private var _infos: [String] = []
    private var _errors: [String] = []
    var infos: [String] { lock.withLock { _infos } }
    var errors: [String] { lock.withLock { _errors } }
    func info(_ line: String) { lock.withLock { _infos.append(line) } }
    func error(_ line: String) { lock.withLock { _errors.append(line) } }
}

/// Records nft scripts and answers listings from a script of canned outputs.
final class RecordingNftables: NftablesRunner, @unchecked Sendable {
    private let lock = NSLock()
    private var _scripts: [String] = []
    var answers: [String: String] = [:]
    var scripts: [String] { lock.withLock { _scripts } }

    func run(_ script: String, json: Bool, dryRun: Bool) throws(NftablesError) -> String {
        lock.withLock { _scripts.append(script) }
        if let answer = answers[script] { return answer }
        if script.hasPrefix("list ") { throw NftablesError("Error: No such file or directory") }
        return ""
    }
}

/// Records commands and answers from canned outputs keyed by argv[0].
final class RecordingCommands: CommandRunner, @unchecked Sendable {
    private let lock = NSLock()
    private var _calls: [(argv: [String], input: String?)] = []
    var outputs: [String: String] = [:]
    var calls: [(argv: [String], input: String?)] { lock.withLock { _calls } }

    func run(_ argv: [String], input: String?) throws(CommandError) -> CommandResult {
        lock.withLock { _calls.append((argv, input)) }
        return CommandResult(status: 0, stdout: outputs[argv[0]] ?? "", stderr: "")
    }
}

/// A temporary directory removed when the value goes away.
final class TempDir {
    let path: String
    init() {
        path = NSTemporaryDirectory() + "pf-test-" + UUID().uuidString
        try! FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }
    deinit { try? FileManager.default.removeItem(atPath: path) }

    func write(_ relative: String, _ text: String) {
        let full = "\(path)/\(relative)"
        try! FileManager.default.createDirectory(atPath: (full as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try! text.write(toFile: full, atomically: true, encoding: .utf8)
    }
}
