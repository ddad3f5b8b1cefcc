import ArgumentParser
import Foundation

@main
struct LibvirtPortfwd: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "libvirt-portfwd",
        abstract: "Forward host ports to libvirt guests on NAT networks, through one nftables table.",
        discussion: "See libvirt-portfwd(8) and libvirt-portfwd.toml(5).",
        version: "0.1.0",
        subcommands: [Export.self, Apply.self, Flush.self, Check.self, Status.self, Hook.self, InstallHook.self, UninstallHook.self]
    )

    static func main() {
        if EarlyHook.isNoOp(Array(CommandLine.arguments.dropFirst())) { Foundation.exit(0) }
        main(nil)
    }
}
