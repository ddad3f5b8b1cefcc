import Foundation
import PortFwd

@main
enum LibvirtPortfwd {
    static let version = "0.1.0"

    static let root = Command(
        path: "",
        abstract: "Forward host ports to libvirt guests on NAT networks, through one nftables table.",
        discussion: "See libvirt-portfwd(8) and libvirt-portfwd.toml(5).")

    static let commands: [Command] = [
        Export.command, Apply.command, Flush.command, Check.command, Status.command,
        Hook.command, Hook.qemu, Hook.network, InstallHook.command, UninstallHook.command,
    ]

    static func main() {
        exit(run(Array(CommandLine.arguments.dropFirst())))
    }

    static func run(_ arguments: [String]) -> Int32 {
        var words = arguments
        let helpCommand = words.first == "help"
        if helpCommand { words.removeFirst() }
        // The command named by the longest run of leading words.
        var command = root
        var depth = 0
        for candidate in commands {
            let path = candidate.path.split(separator: " ").map(String.init)
            if path.count > depth && words.starts(with: path) { command = candidate; depth = path.count }
        }
        let rest = words.dropFirst(depth)
        let options = rest.prefix { $0 != "--" }
        let subcommands = commands.filter { $0.path.split(separator: " ").dropLast().joined(separator: " ") == command.path && $0.path != command.path }
        if helpCommand || options.contains("--help") || options.contains("-h") || (command.run == nil && rest.isEmpty) {
            print(command.help(subcommands: subcommands, version: command.path.isEmpty), terminator: "")
            return 0
        }
        if options.contains("--version") {
            print(version)
            return 0
        }
        do {
            guard let run = command.run else {
                throw UsageError(message: "unknown subcommand '\(rest.first!)'", command: command)
            }
            try run(try command.parse(rest))
            return 0
        } catch let error as UsageError {
            warn("error: \(error.message)")
            let help = ([Command.tool] + (error.command.path.isEmpty ? [] : [error.command.path]) + ["--help"]).joined(separator: " ")
            FileHandle.standardError.write(Data("Usage: \(error.command.usage)\n  See '\(help)' for more information.\n".utf8))
            return 64
        } catch let status as ExitStatus {
            return status.code
        } catch {
            return fail(error).code
        }
    }
}
