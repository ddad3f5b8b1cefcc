import FoundationEssentials
#if canImport(Glibc)
import Glibc
#endif
import PortFwd
import PortFwdCore
import PortFwdSystem

enum InstallHook {
    static let command = Command(
        path: "install-hook",
        abstract: "Install the qemu.d and network.d hook shims. Never touches an existing hooks/qemu script.",
        discussion: "Options given here (--config, --state-dir, --backend, --iptables) are written into the shims, since libvirtd passes none.",
        options: GlobalOptions.specs + [
            .value("hooks-dir", "dir", "libvirt's hooks directory (default: /etc/libvirt/hooks)."),
            .value("binary", "path", "Binary the shims run (default: this one)."),
        ],
        needsRoot: true,
        run: run)

    static func run(_ arguments: Arguments) throws {
        let global = GlobalOptions(arguments)
        let hooksDir = arguments.value("hooks-dir") ?? defaultHooksDirectory
        var extra: [String] = []
        if let config = global.config { extra += ["--config", absolute(config)] }
        if let dir = global.stateDir { extra += ["--state-dir", absolute(dir)] }
        if let backend = global.backend { extra += ["--backend", backend.rawValue] }
        if let flavour = global.iptables { extra += ["--iptables", flavour.rawValue] }
        let exe = arguments.value("binary") ?? (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe"))
            ?? CommandLine.arguments[0]
        do {
            // Judged before the shims are written: whether each daemon started with hooks in
            // place, and noted, for a later rewrite of the shims cannot take that back.
            let memory = daemonMemory(global, hooksDirectory: hooksDir)
            if let memory { LibvirtDaemons.remember(hooksDirectory: hooksDir, memory: memory) }
            let advice = LibvirtDaemons.advice(hooksDirectory: hooksDir, memory: memory)
            let changed = try HookShims(hooksDirectory: hooksDir).install(binary: exe, extraArguments: extra)
            for path in changed { print("installed \(path)") }
            if changed.isEmpty {
                print("hooks already installed in \(hooksDir)")
            } else {
                switch advice {
                case .restart(let daemons):
                    // The service follows guests from libvirt's status files meanwhile: a restart
                    // of libvirt is needed only for the hooks, and may wait.
                    print("Restart \(daemons.joined(separator: " and ")) once so \(daemons.count == 1 ? "it runs" : "they run") the new hooks "
                        + "(\(daemons.count == 1 ? "it" : "they") started without any): systemctl restart \(daemons.joined(separator: " ")); "
                        + "until then libvirt-portfwd.service follows guests' starts and stops")
                case .alreadyCalling(let daemons):
                    print("\(daemons.joined(separator: " and ")) already \(daemons.count == 1 ? "calls" : "call") hooks: "
                        + "the new ones run from the next event, no restart needed")
                case .notRunning:
                    print("No libvirt daemon runs: the next one to start finds the hooks")
                }
            }
        } catch {
            throw fail(error)
        }
    }

    /// Where the state directory notes which running daemons call hooks: only for libvirt's
    /// own hooks directory (or a state directory named on purpose, for tests); a staging tree
    /// (`make install DESTDIR=...`) says nothing about this host's daemons.
    static func daemonMemory(_ global: GlobalOptions, hooksDirectory: String) -> String? {
        guard global.stateDir != nil || hooksDirectory == defaultHooksDirectory else { return nil }
        return global.store.directory + "/daemons-with-hooks"
    }

    static let defaultHooksDirectory = "/etc/libvirt/hooks"

    private static func absolute(_ path: String) -> String {
        path.hasPrefix("/") ? path : FileManager.default.currentDirectoryPath + "/" + path
    }
}

enum UninstallHook {
    static let command = Command(
        path: "uninstall-hook",
        abstract: "Remove the hook shims installed by install-hook.",
        options: GlobalOptions.specs + [.value("hooks-dir", "dir", "libvirt's hooks directory (default: /etc/libvirt/hooks).")],
        needsRoot: true,
        run: run)

    static func run(_ arguments: Arguments) throws {
        let hooksDir = arguments.value("hooks-dir") ?? InstallHook.defaultHooksDirectory
        do {
            // Before they go: which running daemons call hooks (see InstallHook), so that putting
            // them back (the package's remove, then install) asks for no needless restart.
            if let memory = InstallHook.daemonMemory(GlobalOptions(arguments), hooksDirectory: hooksDir) {
                LibvirtDaemons.remember(hooksDirectory: hooksDir, memory: memory)
            }
            let removed = try HookShims(hooksDirectory: hooksDir).uninstall()
            for path in removed { print("removed \(path)") }
            // libvirt looks for hook entries at every event: nothing to restart (measured on
            // libvirt 9.0 and 11.3).
            if removed.isEmpty { print("no hooks of ours in \(hooksDir)") }
        } catch {
            throw fail(error)
        }
    }
}
