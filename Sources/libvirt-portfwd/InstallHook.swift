import Foundation
import PortFwd

enum InstallHook {
    static let command = Command(
        path: "install-hook",
        abstract: "Install the qemu.d and network.d hook shims. Never touches an existing hooks/qemu script.",
        options: GlobalOptions.specs + [
            .value("hooks-dir", "dir", "libvirt's hooks directory (default: /etc/libvirt/hooks)."),
            .value("binary", "path", "Binary the shims run (default: this one)."),
        ],
        run: run)

    static func run(_ arguments: Arguments) throws {
        let global = GlobalOptions(arguments)
        let hooksDir = arguments.value("hooks-dir") ?? "/etc/libvirt/hooks"
        do {
            // Options given here are baked into the shims, since libvirtd passes none.
            var extra: [String] = []
            if let config = global.config { extra += ["--config", absolute(config)] }
            if let dir = global.stateDir { extra += ["--state-dir", absolute(dir)] }
            if let backend = global.backend { extra += ["--backend", backend.rawValue] }
            if let flavour = global.iptables { extra += ["--iptables", flavour.rawValue] }
            let exe = arguments.value("binary") ?? (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
            let changed = try HookShims(hooksDirectory: hooksDir).install(binary: exe, extraArguments: extra)
            for path in changed { print("installed \(path)") }
            if changed.isEmpty { print("hooks already installed in \(hooksDir)") }
            print("Restart libvirtd once so it picks up new hook directories: systemctl restart libvirtd")
        } catch {
            throw fail(error)
        }
    }

    private static func absolute(_ path: String) -> String {
        path.hasPrefix("/") ? path : FileManager.default.currentDirectoryPath + "/" + path
    }
}

enum UninstallHook {
    static let command = Command(
        path: "uninstall-hook",
        abstract: "Remove the hook shims installed by install-hook.",
        options: [.value("hooks-dir", "dir", "libvirt's hooks directory (default: /etc/libvirt/hooks).")],
        run: run)

    static func run(_ arguments: Arguments) throws {
        let hooksDir = arguments.value("hooks-dir") ?? "/etc/libvirt/hooks"
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
