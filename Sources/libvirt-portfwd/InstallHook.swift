import ArgumentParser
import Foundation
import PortFwd

struct InstallHook: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "install-hook",
        abstract: "Install the qemu.d and network.d hook shims. Never touches an existing hooks/qemu script.")

    @OptionGroup var global: GlobalOptions

    @Option(name: .long, help: ArgumentHelp("libvirt's hooks directory.", valueName: "dir"))
    var hooksDir = "/etc/libvirt/hooks"

    @Option(name: .long, help: ArgumentHelp("Binary the shims run (default: this one).", valueName: "path"))
    var binary: String?

    func run() throws {
        do {
            // Options given here are baked into the shims, since libvirtd passes none.
            var extra: [String] = []
            if let config = global.config { extra += ["--config", absolute(config)] }
            if let dir = global.stateDir { extra += ["--state-dir", absolute(dir)] }
            if let backend = global.backend { extra += ["--backend", backend.rawValue] }
            if let flavour = global.iptables { extra += ["--iptables", flavour.rawValue] }
            let exe = binary ?? (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
            let changed = try HookShims(hooksDirectory: hooksDir).install(binary: exe, extraArguments: extra)
            for path in changed { print("installed \(path)") }
            if changed.isEmpty { print("hooks already installed in \(hooksDir)") }
            print("Restart libvirtd once so it picks up new hook directories: systemctl restart libvirtd")
        } catch {
            throw fail(error)
        }
    }

    private func absolute(_ path: String) -> String {
        path.hasPrefix("/") ? path : FileManager.default.currentDirectoryPath + "/" + path
    }
}

struct UninstallHook: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "uninstall-hook",
        abstract: "Remove the hook shims installed by install-hook.")

    @Option(name: .long, help: ArgumentHelp("libvirt's hooks directory.", valueName: "dir"))
    var hooksDir = "/etc/libvirt/hooks"

    func run() throws {
        do {
            let removed = try HookShims(hooksDirectory: hooksDir).uninstall()
            for path in removed { print("removed \(path)") }
            if removed.isEmpty { print("no hooks of ours in \(hooksDir)") }
            print("Restart libvirtd once so it stops calling them: systemctl restart libvirtd")
        } catch {
            throw fail(error)
        }
    }
}
