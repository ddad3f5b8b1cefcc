import FoundationEssentials
import PortFwdCore
#if canImport(Glibc)
import Glibc
#endif

/// Which libvirt daemons this host runs (the monolithic libvirtd, or the modular virtqemud and
/// virtnetworkd of Fedora, RHEL, and Debian when an admin switched), and whether they must
/// restart to run new hooks.
public enum LibvirtDaemons {
    /// The drivers whose hooks each daemon runs.
    static let drivers = ["libvirtd": ["qemu", "network"], "virtqemud": ["qemu"], "virtnetworkd": ["network"]]

    /// What a daemon must be told about new hooks, measured on libvirt 9.0 and 11.3: a daemon
    /// decides at its start, per driver, whether that driver has hooks at all (the script
    /// `hooks/DRIVER` or an entry of `hooks/DRIVER.d`). If it had one, a new entry of
    /// `DRIVER.d` runs from the next event on; if it had none, nothing runs until it restarts.
    /// Removing hooks never needs a restart. Call it before writing the new hooks.
    public enum Advice: Equatable, Sendable {
        /// These running daemons started without a hook of a driver they serve.
        case restart([String])
        /// These run, and already call hooks of every driver they serve.
        case alreadyCalling([String])
        /// No libvirt daemon runs: the next one finds the hooks when it starts.
        case notRunning
    }

    public static func advice(hooksDirectory: String, proc: String = "/proc") -> Advice {
        let running = runningDaemons(proc: proc)
        guard !running.isEmpty else { return .notRunning }
        let bootTime = (SafeFile.kernelText("\(proc)/stat") ?? "").split(separator: "\n")
            .first { $0.hasPrefix("btime ") }.flatMap { Int64($0.dropFirst(6).trimmed) }
        let ticks = Int64(max(1, sysconf(Int32(_SC_CLK_TCK))))
        var restart: [String] = []
        for (name, startTicks) in running {
            // Unknown start time: assume it started before any hook (a restart cannot hurt).
            let started = bootTime.flatMap { boot in startTicks.map { boot + $0 / ticks } }
            let served = drivers[name] ?? []
            if !served.allSatisfy({ driver in started.map { hookExisted(hooksDirectory, driver, before: $0) } ?? false }) {
                restart.append(name)
            }
        }
        let names = running.map(\.name)
        return restart.isEmpty ? .alreadyCalling(names) : .restart(restart)
    }

    /// Whether a hook of `driver` was in place before `time` (seconds since the epoch): an
    /// executable regular file `DRIVER`, or one in `DRIVER.d`, last modified before it.
    static func hookExisted(_ hooks: String, _ driver: String, before time: Int64) -> Bool {
        var candidates = ["\(hooks)/\(driver)"]
        let dir = "\(hooks)/\(driver).d"
        candidates += ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).map { "\(dir)/\($0)" }
        return candidates.contains { path in
            var st = stat()
            guard stat(path, &st) == 0, st.st_mode & S_IFMT == S_IFREG, st.st_mode & 0o111 != 0 else { return false }
            return Int64(st.st_mtim.tv_sec) < time
        }
    }

    /// Running libvirt daemons (by their comm) and their start, in clock ticks after boot.
    static func runningDaemons(proc: String) -> [(name: String, startTicks: Int64?)] {
        let entries = ((try? FileManager.default.contentsOfDirectory(atPath: proc)) ?? []).filter { $0.allSatisfy(\.isNumber) }.sorted()
        var result: [(name: String, startTicks: Int64?)] = []
        for pid in entries {
            guard let comm = SafeFile.kernelText("\(proc)/\(pid)/comm")?.trimmed, drivers[comm] != nil,
                  !result.contains(where: { $0.name == comm }) else { continue }
            // Field 22 of stat, counted after the command's closing parenthesis (a command may hold spaces).
            let stat = SafeFile.kernelText("\(proc)/\(pid)/stat") ?? ""
            let fields = stat.lastIndex(of: ")").map { stat[stat.index(after: $0)...].split(separator: " ") } ?? []
            result.append((comm, fields.count > 19 ? Int64(fields[19]) : nil))
        }
        return result
    }

}
