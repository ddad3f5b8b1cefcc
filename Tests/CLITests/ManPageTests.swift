import Foundation
@testable import PortFwdCore
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
            #expect(own == man.commands[command] ?? [],
                "options of \(command): --help has \(own.sorted()), the man page \((man.commands[command] ?? []).sorted())")
        }
        #expect(help.count >= 9)
    }

    /// SYNOPSIS, one entry per `.br`: the subcommand each names (the longest of `commands` its
    /// words begin with) and the long options it shows.
    func manSynopsis(commands: Set<String>) throws -> [String: Set<String>] {
        let text = try String(contentsOfFile: "\(Paths.root)/man/libvirt-portfwd.8", encoding: .utf8)
        let lines = text.split(separator: "\n").map(String.init)
        guard let start = lines.firstIndex(of: ".SH SYNOPSIS") else { return [:] }
        let body = lines[(start + 1)...].prefix { !$0.hasPrefix(".SH ") }
        let option = try NSRegularExpression(pattern: "--[a-z][a-z-]*")
        var result: [String: Set<String>] = [:]
        for entry in body.split(separator: ".br") {
            // The words as printed: macro names off, `\-` unescaped, brackets apart.
            let words = entry.map { $0.split(separator: " ", maxSplits: 1).dropFirst().joined() }.joined(separator: " ")
                .replacingOccurrences(of: "\\-", with: "-").replacingOccurrences(of: "\"", with: " ")
            let plain = words.split(whereSeparator: { " []|.".contains($0) }).map(String.init)
                .filter { $0 != "libvirt-portfwd" && $0 != "options" }.joined(separator: " ")
            guard let command = commands.filter({ plain == $0 || plain.hasPrefix($0 + " ") }).max(by: { $0.count < $1.count }) else {
                result["unknown: \(plain)"] = []
                continue
            }
            let found = option.matches(in: words, range: NSRange(words.startIndex..., in: words)).map { String(words[Range($0.range, in: words)!]) }
            result[command, default: []].formUnion(found)
        }
        return result
    }

    /// SYNOPSIS names every subcommand, each with every option of its own that `--help` shows:
    /// an option added to the CLI and not to the page fails here.
    @Test func synopsisListsEveryOption() throws {
        let help = try helpCommands()
        let synopsis = try manSynopsis(commands: Set(help.keys))
        #expect(Set(synopsis.keys) == Set(help.keys), "SYNOPSIS has \(synopsis.keys.sorted()), --help \(help.keys.sorted())")
        for (command, options) in help {
            let own = options.subtracting(Self.implicit).subtracting(Self.globalOptions)
            #expect(synopsis[command] == own, "\(command): --help has \(own.sorted()), SYNOPSIS \((synopsis[command] ?? []).sorted())")
        }
    }

    @Test func configManPageDocumentsEverySettingsKey() throws {
        let text = try String(contentsOfFile: "\(Paths.root)/man/libvirt-portfwd.toml.5", encoding: .utf8)
            .replacingOccurrences(of: "\\-", with: "-")
        // The keys the reader knows, not a list of our own that could miss one.
        for key in ConfigParser.settingsKeys + ConfigParser.guestKeys {
            #expect(text.contains(".B \(key) ="), "libvirt-portfwd.toml(5) does not document \(key)")
        }
    }

    /// The page as man shows it: what the admin reads, quotes and all.
    static func rendered(_ page: String) throws -> String {
        try Shell.run("MANWIDTH=250 man -l -P cat \(Paths.root)/man/\(page) 2>/dev/null")
    }

    /// The lines of one section of a rendered page.
    static func section(_ name: String, of text: String) -> [String] {
        var lines: [String] = [], inside = false
        for line in text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init) {
            if !line.hasPrefix(" ") && !line.isEmpty && line.uppercased() == line && !line.contains("(") { inside = line == name; continue }
            if inside { lines.append(line) }
        }
        return lines
    }

    /// Every key documented in libvirt-portfwd.toml(5) is shown as valid TOML, and the example
    /// is a config `check` accepts: a rendering that lost its quotes fails here.
    @Test func configPageExamplesAreValidAsRendered() throws {
        let page = try Self.rendered("libvirt-portfwd.toml.5")
        let entry = try NSRegularExpression(pattern: "^       ([a-z0-9-]+ = .*)$")
        func entries(_ section: String) -> [String] {
            Self.section(section, of: page).compactMap { line in
                entry.firstMatch(in: line, range: NSRange(line.startIndex..., in: line)).map { String(line[Range($0.range(at: 1), in: line)!]) }
            }
        }
        let settings = entries("SETTINGS"), guest = entries("GUESTS")
        // Every key the reader knows, each shown once.
        #expect(Set(settings.map { String($0.prefix { $0 != " " }) }) == Set(ConfigParser.settingsKeys)
            && settings.count == ConfigParser.settingsKeys.count,
                "\(settings)")
        #expect(Set(guest.map { String($0.prefix { $0 != " " }) }) == Set(ConfigParser.guestKeys) && guest.count == ConfigParser.guestKeys.count,
                "\(guest)")
        let dir = TempDir()
        dir.write("keys.toml", "[settings]\n" + settings.joined(separator: "\n") + "\n[[guest]]\n" + guest.joined(separator: "\n") + "\n")
        let keys = Shell.capture("\(Paths.binary) check --config \(dir.path)/keys.toml --state-dir \(dir.path)/s")
        #expect(keys.status == 0, "the documented keys: \(keys.stderr)")
        let example = Self.section("EXAMPLE", of: page).filter { $0.hasPrefix("       ") && $0.contains("=") || $0.hasPrefix("       [") }
            .map { String($0.dropFirst(7)) }
        #expect(example.contains("name = \"web1\""), "\(example)")
        dir.write("example.toml", example.joined(separator: "\n") + "\n")
        let check = Shell.capture("\(Paths.binary) check --config \(dir.path)/example.toml --state-dir \(dir.path)/s")
        #expect(check.status == 0, "the example: \(check.stderr)")
    }

    /// The example command lines of libvirt-portfwd(8), as rendered, with continuations joined.
    static func commandExamples() throws -> [String] {
        let page = try rendered("libvirt-portfwd.8")
        var commands: [String] = []
        var pending = ""
        for line in section("METADATA", of: page) + section("EXAMPLES", of: page) {
            let text = line.trimmingCharacters(in: .whitespaces)
            if !pending.isEmpty {
                pending += " " + text
            } else if ["libvirt-portfwd ", "virsh ", "systemctl "].contains(where: text.hasPrefix) {
                pending = text
            } else {
                continue
            }
            if pending.hasSuffix("\\") { pending = String(pending.dropLast()).trimmingCharacters(in: .whitespaces); continue }
            commands.append(pending)
            pending = ""
        }
        return commands
    }

    @Test func theManPageHasRunnableExamples() throws {
        let commands = try Self.commandExamples()
        #expect(commands.filter { $0.hasPrefix("libvirt-portfwd ") }.count >= 8, "\(commands)")
        #expect(commands.contains { $0.hasPrefix("virsh metadata web1 urn:libvirt-portfwd:1 --key portfwd --config --set '<forwards>") })
    }
}

/// Every example of libvirt-portfwd(8) runs, in document order, against a real libvirtd with
/// a guest web1 running, and exits 0. `systemctl` lines need systemd, which the lab lacks.
@Suite(.privileged, .serialized) struct RootManPageExampleTests {
    @Test func everyExampleRuns() throws {
        let lab = try LibvirtLab(config: RootLibvirtTests.web1Guest, host: .debian13)
        defer { lab.close() }
        try lab.serveInGuest(port: 80)
        try lab.define("web1", mac: "52:54:00:00:00:10")
        try lab.virsh("start web1")
        // The examples say plain `libvirt-portfwd`, with the default config and state: point
        // those at the lab's through the environment, and PATH at the binary under test.
        let bin = "\(lab.work)/bin"
        try FileManager.default.createDirectory(atPath: bin, withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: "\(bin)/libvirt-portfwd", withDestinationPath: Paths.binary)
        var ran = 0
        for command in try ManPageTests.commandExamples() {
            if command.hasPrefix("systemctl ") { continue }
            let line = command.hasPrefix("virsh ") ? command.replacingOccurrences(of: "virsh ", with: "virsh -c qemu:///system ",
                options: .anchored) : command
            // In the lab's own directory: an example may write a file where it stands.
            let r = lab.shell("cd \(lab.work) && export PATH=\(bin):$PATH LIBVIRT_PORTFWD_CONFIG=\(lab.configPath) "
                + "LIBVIRT_PORTFWD_STATE_DIR=\(lab.stateDir); \(line)")
            #expect(r.status == 0, "`\(command)` exited \(r.status): \(r.stderr)")
            ran += 1
        }
        #expect(ran >= 9)
    }
}

/// FIREWALL NEIGHBOURS shows the commands RootNeighbourTests runs, word for word.
@Suite struct FirewallNeighboursPageTests {
    @Test func everyTestedExampleIsOnThePage() throws {
        let page = try ManPageTests.rendered("libvirt-portfwd.8")
        let section = ManPageTests.section("FIREWALL NEIGHBOURS", of: page).map { $0.trimmingCharacters(in: .whitespaces) }
        #expect(!section.isEmpty)
        for (neighbour, example) in RootNeighbourTests.examples {
            for line in example.split(separator: "\n") {
                #expect(section.contains(String(line)), "the \(neighbour) example `\(line)` is not in FIREWALL NEIGHBOURS")
            }
        }
    }
}
