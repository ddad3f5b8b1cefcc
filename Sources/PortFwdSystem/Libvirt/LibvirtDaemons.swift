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
    /// `DRIVER.d` runs from the next event on, for as long as that process lives, even after
    /// every hook was removed and put back (a package's remove and install); if it had none,
    /// nothing runs until it restarts. Removing hooks never needs a restart.
    public enum Advice: Equatable, Sendable {
        /// These running daemons started without a hook of a driver they serve.
        case restart([String])
        /// These run, and already call hooks of every driver they serve.
        case alreadyCalling([String])
        /// No libvirt daemon runs: the next one finds the hooks when it starts.
        case notRunning
    }

    /// One daemon process: its PID and its start (clock ticks after boot) name it within a
    /// boot, so a PID used again by another process is never mistaken for it.
    struct Process: Equatable {
        let name: String
        let pid: Int
        let startTicks: Int64?

        var key: String? { startTicks.map { "\(name) \(pid) \($0)" } }
    }

    /// What each running daemon calls hooks for, from the best evidence there is:
    /// - what `memory` (a file in the state directory) says this very process had: noted while
    ///   the evidence below held, which a later rewrite of the hooks (an upgrade, a reinstall)
    ///   cannot take back;
    /// - a hook of the driver that was in place before the process started: an executable
    ///   `DRIVER`, or one in `DRIVER.d`, last modified before its start.
    static func judge(hooksDirectory: String, proc: String, memory: String?) -> [(Process, Set<String>)] {
        let running = runningDaemons(proc: proc)
        let bootTime = (SafeFile.kernelText("\(proc)/stat") ?? "").split(separator: "\n")
            .first { $0.hasPrefix("btime ") }.flatMap { Int64($0.dropFirst(6).trimmed) }
        let ticks = Int64(max(1, sysconf(Int32(_SC_CLK_TCK))))
        let remembered = memory.map(recall) ?? [:]
        return running.map { daemon in
            // Unknown start time: assume it started before any hook (a restart cannot hurt).
            let started = bootTime.flatMap { boot in daemon.startTicks.map { boot + $0 / ticks } }
            let known = daemon.key.flatMap { remembered[$0] } ?? []
            let calling = (drivers[daemon.name] ?? []).filter { driver in
                known.contains(driver) || started.map { hookExisted(hooksDirectory, driver, before: $0) } == true
            }
            return (daemon, Set(calling))
        }
    }

    /// Call it before writing the new hooks.
    public static func advice(hooksDirectory: String, proc: String = "/proc", memory: String? = nil) -> Advice {
        let judged = judge(hooksDirectory: hooksDirectory, proc: proc, memory: memory)
        guard !judged.isEmpty else { return .notRunning }
        let restart = judged.filter { daemon, calling in !(drivers[daemon.name] ?? []).allSatisfy(calling.contains) }.map(\.0.name)
        return restart.isEmpty ? .alreadyCalling(judged.map(\.0.name)) : .restart(restart)
    }

    /// Notes in `memory` which drivers' hooks each running daemon calls, while the evidence
    /// holds: before `install-hook` rewrites the hooks and before `uninstall-hook` removes
    /// them. Lines of processes that no longer run are dropped. Best effort: a note that
    /// cannot be written costs at most a restart asked for needlessly.
    public static func remember(hooksDirectory: String, proc: String = "/proc", memory: String) {
        let lines = judge(hooksDirectory: hooksDirectory, proc: proc, memory: memory).compactMap { daemon, calling -> String? in
            guard let key = daemon.key, !calling.isEmpty else { return nil }
            return "\(key) \(calling.sorted().joined(separator: ","))\n"
        }
        let text = lines.joined()
        if recallText(memory) == text { return }
        if text.isEmpty { try? SafeFile.remove(memory); return }
        try? SafeFile.directory(SafeFile.parent(of: memory), create: true)
        try? SafeFile.write(memory, Array(text.utf8), mode: 0o644)
    }

    /// "NAME PID START DRIVER,DRIVER" per line, by "NAME PID START". Anything else is ignored.
    static func recall(_ memory: String) -> [String: Set<String>] {
        var result: [String: Set<String>] = [:]
        for line in (recallText(memory) ?? "").split(separator: "\n") {
            let fields = line.split(separator: " ")
            guard fields.count == 4, drivers[String(fields[0])] != nil, Int(fields[1]) != nil, Int64(fields[2]) != nil else { continue }
            let served = Set(drivers[String(fields[0])] ?? [])
            result[fields[0...2].joined(separator: " "), default: []]
                .formUnion(fields[3].split(separator: ",").map(String.init).filter(served.contains))
        }
        return result
    }

    private static func recallText(_ memory: String) -> String? {
        ((try? SafeFile.read(memory, limit: 1 << 16)) ?? nil).map { String(decoding: $0, as: UTF8.self) }
    }

    /// Whether a hook of `driver` was in place before `time` (seconds since the epoch): an
    /// executable regular file `DRIVER`, or one in `DRIVER.d`, last modified before it. A
    /// process's start is known to the second only (the kernel's boot time is), so a hook
    /// written in the second the daemon started counts as not there: a restart asked for
    /// needlessly, never one missed.
    static func hookExisted(_ hooks: String, _ driver: String, before time: Int64) -> Bool {
        var candidates = ["\(hooks)/\(driver)"]
        let dir = "\(hooks)/\(driver).d"
        candidates += (Directory.names(dir) ?? []).map { "\(dir)/\($0)" }
        return candidates.contains { path in
            var st = stat()
            guard stat(path, &st) == 0, st.st_mode & S_IFMT == S_IFREG, st.st_mode & 0o111 != 0 else { return false }
            return Int64(st.st_mtim.tv_sec) < time
        }
    }

    /// Running libvirt daemons (by their comm), one process each, and their start.
    static func runningDaemons(proc: String) -> [Process] {
        let entries = (Directory.names(proc) ?? []).filter { $0.allSatisfy(\.isNumber) }.sorted()
        var result: [Process] = []
        for pid in entries {
            guard let comm = SafeFile.kernelText("\(proc)/\(pid)/comm")?.trimmed, drivers[comm] != nil,
                  !result.contains(where: { $0.name == comm }) else { continue }
            // Field 22 of stat, counted after the command's closing parenthesis (a command may hold spaces).
            let stat = SafeFile.kernelText("\(proc)/\(pid)/stat") ?? ""
            let fields = stat.lastIndex(of: ")").map { stat[stat.index(after: $0)...].split(separator: " ") } ?? []
            result.append(Process(name: comm, pid: Int(pid) ?? 0, startTicks: fields.count > 19 ? Int64(fields[19]) : nil))
        }
        return result
    }
}
