import Foundation
import Testing

/// The man page and `--help` must agree on which subcommands and options exist.
@Suite struct ManPageTests {
    static let globalOptions: Set<String> = ["--config", "--state-dir", "--backend", "--iptables", "--libvirt-root"]
    static let implicit: Set<String> = ["--help", "--version"]

    /// Leaf subcommands and their options as `--help` shows them.
    func helpCommands() throws -> [String: Set<String>] {
        var result: [String: Set<String>] = [:]
        func walk(_ path: [String]) throws {
            let help = try Shell.run("\(Paths.binary) \(path.joined(separator: " ")) --help")
            let subcommands = section("SUBCOMMANDS", of: help).compactMap { line -> String? in
                guard line.hasPrefix("  "), !line.hasPrefix("   "), let word = line.split(separator: " ").first,
                      word.allSatisfy({ $0.isLowercase || $0 == "-" }) else { return nil }
                return String(word)
            }
            if subcommands.isEmpty {
                result[path.joined(separator: " ")] = Set(section("OPTIONS", of: help).compactMap(longOption))
            } else {
                for sub in subcommands where sub != "help" { try walk(path + [sub]) }
            }
        }
        try walk([])
        return result
    }

    func section(_ name: String, of help: String) -> [String] {
        var lines: [String] = []
        var inside = false
        for line in help.split(separator: "\n", omittingEmptySubsequences: false).map(String.init) {
            if line.hasSuffix(":") && !line.hasPrefix(" ") { inside = line == "\(name):"; continue }
            if inside { lines.append(line) }
        }
        return lines
    }

    func longOption(_ line: String) -> String? {
        let trimmed = line.trimmingCharacters(in: .whitespaces)
        guard line.hasPrefix("  "), let token = trimmed.split(separator: " ").first(where: { $0.hasPrefix("--") }) else { return nil }
        return String(token).trimmingCharacters(in: CharacterSet(charactersIn: ","))
    }

    /// `.SS "name"` opens a subcommand in COMMANDS; `.TP` then `.B`/`.BI` with `\-\-name` documents an option.
    func manCommands() throws -> (commands: [String: Set<String>], global: Set<String>) {
        let text = try String(contentsOfFile: "\(Paths.root)/man/libvirt-portfwd.8", encoding: .utf8)
        var commands: [String: Set<String>] = [:]
        var global: Set<String> = []
        var sectionName = "", current: String?
        var afterTP = false
        for line in text.split(separator: "\n").map(String.init) {
            if line.hasPrefix(".SH ") { sectionName = line.dropFirst(4).trimmingCharacters(in: CharacterSet(charactersIn: "\" ")); current = nil }
            if line.hasPrefix(".SS "), sectionName == "COMMANDS" {
                current = line.dropFirst(4).trimmingCharacters(in: CharacterSet(charactersIn: "\" "))
                commands[current!] = []
            }
            if afterTP, line.hasPrefix(".B ") || line.hasPrefix(".BI ") {
                let unescaped = line.replacingOccurrences(of: "\\-", with: "-").replacingOccurrences(of: "\"", with: " ")
                if let option = unescaped.split(separator: " ").first(where: { $0.hasPrefix("--") }).map(String.init) {
                    if sectionName == "OPTIONS" { global.insert(option) } else if let current { commands[current]!.insert(option) }
                }
            }
            afterTP = line == ".TP"
        }
        return (commands, global)
    }

    @Test func manPageAndHelpAgree() throws {
        let help = try helpCommands()
        let man = try manCommands()
        #expect(Set(help.keys) == Set(man.commands.keys), "subcommands: --help has \(help.keys.sorted()), the man page \(man.commands.keys.sorted())")
        #expect(man.global == Self.globalOptions)
        for (command, options) in help {
            let own = options.subtracting(Self.implicit).subtracting(Self.globalOptions)
            #expect(own == man.commands[command] ?? [], "options of \(command): --help has \(own.sorted()), the man page \((man.commands[command] ?? []).sorted())")
        }
        #expect(help.count >= 9)
    }

    @Test func configManPageDocumentsEverySettingsKey() throws {
        let text = try String(contentsOfFile: "\(Paths.root)/man/libvirt-portfwd.toml.5", encoding: .utf8)
            .replacingOccurrences(of: "\\-", with: "-")
        for key in ["backend", "admission", "mark", "hairpin", "host-access", "metadata", "metadata-host-ports",
                    "name", "uuid", "address", "address6", "forwards", "sources"] {
            #expect(text.contains(".B \(key) ="), "libvirt-portfwd.toml(5) does not document \(key)")
        }
    }
}
