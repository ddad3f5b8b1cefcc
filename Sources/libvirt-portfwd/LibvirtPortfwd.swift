import CBuildInfo
import FoundationEssentials
#if canImport(Glibc)
import Glibc
#endif
import PortFwd
import PortFwdCore
import PortFwdSystem

@main
enum LibvirtPortfwd {
    static let version = "0.3.0"

    static let root = Command(
        path: "",
        abstract: "Forward host ports to libvirt guests on NAT networks, through one nftables table.",
        discussion: "See libvirt-portfwd(8) and libvirt-portfwd.toml(5).",
        options: GlobalOptions.specs)

    static let commands: [Command] = [
        Export.command, Apply.command, Flush.command, Check.command, Status.command, Trace.command, Watch.command,
        Forward.command, Forward.add, Forward.remove, Forward.list,
        Hook.command, Hook.qemu, Hook.network, InstallHook.command, UninstallHook.command, Completions.command,
    ]

    static func main() {
        // The Swift runtime reads the arguments from /proc/self/cmdline: without /proc (a bare
        // chroot) there are none, not even the program's name, and `apply` would print the help
        // and exit 0 having done nothing.
        guard !CommandLine.arguments.isEmpty else {
            warn("cannot read the command line from /proc/self/cmdline; is /proc mounted?")
            exit(71)
        }
        exit(run(Array(CommandLine.arguments.dropFirst())))
    }

    static func run(_ arguments: [String]) -> Int32 {
        var words = arguments
        let helpCommand = words.first == "help"
        if helpCommand { words.removeFirst() }
        // Global options may come before the subcommand: take them out of the way.
        var leading: [String] = []
        while let first = words.first, let spec = GlobalOptions.specs.first(where: { first == "--\($0.name)" || first.hasPrefix("--\($0.name)=") }) {
            leading.append(words.removeFirst())
            if spec.valueName != nil, !first.contains("="), let value = words.first { leading.append(value); words.removeFirst() }
        }
        // The command named by the longest run of leading words.
        var command = root
        for candidate in commands where candidate.words.count > command.words.count && words.starts(with: candidate.words) {
            command = candidate
        }
        let rest = leading + words.dropFirst(command.words.count)
        let options = rest.prefix { $0 != "--" }
        if helpCommand || options.contains("--help") || options.contains("-h") || (command.run == nil && rest.isEmpty) {
            print(command.help(subcommands: subcommands(of: command), version: command.path.isEmpty), terminator: "")
            return 0
        }
        if options.contains("--version") || options.contains("-V") {
            print(versionText, terminator: "")
            return 0
        }
        do {
            guard let run = command.run else {
                let word = rest.first { !$0.hasPrefix("-") } ?? rest.first!
                let names = subcommands(of: command).map { $0.words.last! }
                throw UsageError(message: "unknown subcommand '\(word)'"
                                     + Suggestion.nearest(word, in: names).map { "; did you mean '\($0)'?" }.orEmpty,
                                 command: command)
            }
            let parsed = try command.parse(rest)
            if command.needsRoot && geteuid() != 0 {
                warn("\(command.path) needs root: it reads or changes the kernel's firewall rules or root's files")
                return 77
            }
            try run(parsed)
            return 0
        } catch let error as UsageError {
            warn("error: \(error.message)")
            let help = ([Command.tool] + (error.command.path.isEmpty ? [] : [error.command.path]) + ["--help"]).joined(separator: " ")
            Stderr.write("Usage: \(error.command.usage)\n  See '\(help)' for more information.\n")
            return 64
        } catch let status as ExitStatus {
            return status.code
        } catch {
            return fail(error).code
        }
    }

    static func subcommands(of command: Command) -> [Command] {
        commands.filter { $0.words.count == command.words.count + 1 && $0.words.starts(with: command.words) }
    }

    /// The version, the commit built, and the backends this host can use.
    static var versionText: String {
        var backends: [String] = []
        backends.append(LibNftables.loadError.map { "nftables (unavailable: \($0))" } ?? "nftables")
        let flavours = IptablesFlavour.allCases.filter { Spawn.locate("iptables-\($0.rawValue)-restore") != nil }.map { "iptables-\($0.rawValue)" }
        backends.append(flavours.isEmpty ? "iptables (unavailable: no iptables-restore)" : "iptables (\(flavours.joined(separator: ", ")))")
        return "libvirt-portfwd \(version) (commit \(String(cString: pf_build_commit())))\nbackends: \(backends.joined(separator: "; "))\n"
    }
}
