import FoundationEssentials
#if canImport(Glibc)
import Glibc
#endif
import PortFwdCore
/// The command line's grammar, small enough to read in one sitting. Every call of the tool
/// goes through here, and libvirtd waits on the hook calls: a declarative parser built on
/// runtime reflection cost more than the work of most calls (bench/RESULTS.md), so
/// subcommands are plain values and parsing is a loop.
///
/// Global options may come before or after the subcommand; `-h`/`--help` and
/// `-V`/`--version` are understood anywhere before `--`, after which every word is a
/// positional argument (libvirt's guest names go there).

/// An option: a flag, or one that takes a value (`--name value` or `--name=value`).
struct OptionSpec: Sendable {
    let name: String
    /// nil for a flag.
    let valueName: String?
    let help: String
    /// The values allowed; empty when any is.
    var choices: [String] = []
    /// May be given more than once (`--source A --source B`).
    var repeats = false
    /// Understood, but left out of help and completions (`--libvirt-root`, for tests).
    var hidden = false

    static func flag(_ name: String, _ help: String) -> OptionSpec { OptionSpec(name: name, valueName: nil, help: help) }
    static func value(_ name: String, _ valueName: String, _ help: String, choices: [String] = [], repeats: Bool = false) -> OptionSpec {
        OptionSpec(name: name, valueName: valueName, help: help, choices: choices, repeats: repeats)
    }
}

/// A positional argument; a repeating one takes the rest and may be absent.
struct PositionalSpec: Sendable {
    let name: String
    let help: String
    var repeats = false
}

/// One subcommand, or a group of them (`hook`, `forward`) when `run` is nil.
struct Command: Sendable {
    /// The words that select it, e.g. "hook qemu".
    let path: String
    let abstract: String
    var discussion: String?
    var options: [OptionSpec] = []
    var positionals: [PositionalSpec] = []
    /// Whether it changes or reads the kernel's rules, or writes root's files.
    var needsRoot = false
    /// Command lines shown under EXAMPLES in `--help`.
    var examples: [String] = []
    var run: (@Sendable (Arguments) throws -> Void)?

    var words: [String] { path.split(separator: " ").map(String.init) }
}

/// What a command line gave one subcommand.
struct Arguments {
    var values: [String: [String]] = [:]
    var flags: Set<String> = []
    var positionals: [String] = []

    func value(_ name: String) -> String? { values[name]?.last }
    func all(_ name: String) -> [String] { values[name] ?? [] }
    func flag(_ name: String) -> Bool { flags.contains(name) }
}

/// A command line that does not fit the grammar; exit status 64 (EX_USAGE).
struct UsageError: Error {
    let message: String
    let command: Command
}

/// Asks for the exit status `code` without printing anything more.
struct ExitStatus: Error {
    let code: Int32
    init(_ code: Int32) { self.code = code }
}

extension Command {
    /// Parses the words of a command line that are not the command's path. `--` ends the options.
    func parse(_ words: some Collection<String>) throws(UsageError) -> Arguments {
        var result = Arguments()
        var rest = words[...]
        var optionsEnded = false
        while let word = rest.popFirst() {
            guard !optionsEnded, word.hasPrefix("-"), word != "-" else {
                result.positionals.append(word)
                continue
            }
            if word == "--" { optionsEnded = true; continue }
            let (name, inline) = split(word)
            guard let spec = options.first(where: { "--\($0.name)" == name }) else {
                let known = options.map { "--\($0.name)" } + ["--help", "--version"]
                throw UsageError(message: "unknown option '\(name)'"
                                     + Suggestion.nearest(name, in: known).map { "; did you mean '\($0)'?" }.orEmpty,
                                 command: self)
            }
            guard spec.valueName != nil else {
                if inline != nil { throw UsageError(message: "\(name) takes no value", command: self) }
                result.flags.insert(spec.name)
                continue
            }
            guard let value = inline ?? rest.popFirst() else {
                throw UsageError(message: "\(name) needs a value", command: self)
            }
            if !spec.choices.isEmpty && !spec.choices.contains(value) {
                throw UsageError(message: "'\(value)' is not a valid \(name): use \(spec.choices.joined(separator: ", "))", command: self)
            }
            if spec.repeats { result.values[spec.name, default: []].append(value) } else { result.values[spec.name] = [value] }
        }
        let required = positionals.filter { !$0.repeats }
        if result.positionals.count < required.count {
            throw UsageError(message: "missing <\(required[result.positionals.count].name)>", command: self)
        }
        if !(positionals.last?.repeats ?? false) && result.positionals.count > positionals.count {
            throw UsageError(message: "unexpected argument '\(result.positionals[positionals.count])'", command: self)
        }
        return result
    }

    private func split(_ word: String) -> (String, String?) {
        guard let eq = word.firstIndex(of: "=") else { return (word, nil) }
        return (String(word[..<eq]), String(word[word.index(after: eq)...]))
    }
}

