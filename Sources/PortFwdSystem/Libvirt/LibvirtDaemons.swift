import FoundationEssentials
import PortFwdCore
#if canImport(Glibc)
import Glibc
#endif

/// Which libvirt daemons this host runs: the monolithic libvirtd, or the modular virtqemud
/// and virtnetworkd (Fedora, RHEL, and Debian when an admin switched). Hooks directories are
/// read when a daemon starts, so the admin must restart the ones that run hooks.
public enum LibvirtDaemons {
    /// The daemons to restart: those running now, else those installed, else libvirtd.
    public static func detect(proc: String = "/proc", binaries: String = "/usr/sbin") -> [String] {
        let running = runningNames(proc: proc)
        if running.contains("virtqemud") || running.contains("virtnetworkd") {
            return ["virtqemud", "virtnetworkd"].filter { running.contains($0) || access("\(binaries)/\($0)", X_OK) == 0 }
        }
        if running.contains("libvirtd") { return ["libvirtd"] }
        if access("\(binaries)/libvirtd", X_OK) != 0 && access("\(binaries)/virtqemud", X_OK) == 0 { return ["virtqemud", "virtnetworkd"] }
        return ["libvirtd"]
    }

    private static func runningNames(proc: String) -> Set<String> {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: proc)) ?? []
        var names = Set<String>()
        for pid in entries where pid.allSatisfy(\.isNumber) {
            if let comm = SafeFile.kernelText("\(proc)/\(pid)/comm") {
                names.insert(comm.trimmed)
            }
        }
        return names
    }
}
