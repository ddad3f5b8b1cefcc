import FoundationEssentials
#if canImport(Glibc)
import Glibc
#endif
/// `--help` text: the sections ManPageTests reads (OPTIONS, SUBCOMMANDS) and the usage line
/// shown with a usage error.
extension Command {
    static let tool = "libvirt-portfwd"

    var usage: String {
        var words = ["\(Self.tool) \(path)".trimmingSuffix()]
        if run == nil { words.append("<subcommand>") }
        for option in options where !option.hidden {
            words.append(option.valueName.map { "[--\(option.name) <\($0)>]\(option.repeats ? " ..." : "")" } ?? "[--\(option.name)]")
        }
        for positional in positionals { words.append(positional.repeats ? "[<\(positional.name)> ...]" : "<\(positional.name)>") }
        return words.joined(separator: " ")
    }

    func help(subcommands: [Command], version: Bool) -> String {
        var text = "OVERVIEW: \(abstract)\n\n"
        if let discussion { text += wrap(discussion, indent: 0) + "\n\n" }
        text += "USAGE: \(usage)\n\n"
        if !positionals.isEmpty {
            text += "ARGUMENTS:\n"
            for positional in positionals { text += entry("<\(positional.name)>", positional.help) }
            text += "\n"
        }
        text += "OPTIONS:\n"
        for option in options where !option.hidden {
            let name = "--\(option.name)" + (option.valueName.map { " <\($0)>" } ?? "")
            let values = option.choices.isEmpty ? "" : " (values: \(option.choices.joined(separator: ", ")))"
            text += entry(name, option.help + values)
        }
        text += entry("-V, --version", "Show the version, the commit and the backends this host can use.")
        text += entry("-h, --help", "Show help information.")
        if !examples.isEmpty {
            text += "\nEXAMPLES:\n" + examples.map { "  \($0)\n" }.joined()
        }
        if !subcommands.isEmpty {
            text += "\nSUBCOMMANDS:\n"
            for sub in subcommands { text += entry(String(sub.path.split(separator: " ").last!), sub.abstract) }
            text += "\n  See '\(Self.tool) help <subcommand>' for detailed help.\n"
        }
        return text
    }

    /// "  name   help", the help wrapped at 80 columns under itself.
    private func entry(_ name: String, _ help: String) -> String {
        let column = 26
        var line = "  " + name
        line += line.count + 2 <= column ? String(repeating: " ", count: column - line.count) : "\n" + String(repeating: " ", count: column)
        return line + wrap(help, indent: column).dropFirst(column) + "\n"
    }

    private func wrap(_ text: String, indent: Int) -> String {
        var lines: [String] = []
        var line = String(repeating: " ", count: indent)
        for word in text.split(separator: " ") {
            if line.count > indent && line.count + 1 + word.count > 80 {
                lines.append(line)
                line = String(repeating: " ", count: indent)
            }
            line += (line.count > indent ? " " : "") + word
        }
        lines.append(line)
        return lines.joined(separator: "\n")
    }
}

private extension String {
    func trimmingSuffix() -> String {
        var s = self
        while s.last == " " { s.removeLast() }
        return s
    }
}
