import FoundationEssentials
#if canImport(Glibc)
import Glibc
#endif
import PortFwdCore
import PortFwdSystem

/// What the watch service publishes after every change it sees and at least once a minute,
/// so that reading the status needs neither root nor a cron job:
/// - its status report, the JSON that `status --json` prints, as `status` in the state
///   directory, readable by group `libvirt` (the file 0640, the directory 0710, both
///   root:libvirt), which `status` and `forward list` read when run without root;
/// - the same status as a Prometheus textfile (`PrometheusText`, the text `status --prometheus`
///   prints): `[settings] prometheus-textfile`, else, for the default state directory only,
///   Debian's node_exporter directory when it exists.
/// Both are written whole (a temporary file beside, then renamed over), never half.
public final class Publisher {
    /// Not `*.json`: the state store takes every such file for a guest's record.
    public static let reportName = "status"
    /// The group that may read the report: the one that may use virsh on Debian.
    public static let readers = "libvirt"
    /// node_exporter's textfile directory on Debian (prometheus-node-exporter).
    public static let debianTextfileDirectory = "/var/lib/prometheus/node-exporter"

    /// Seconds between publications when nothing changes.
    public let interval: Double
    private var last: (plan: Plan?, mode: Mode, at: Double)?
    /// What failed last, said once until it changes.
    private var lastFailure: String?

    public init(interval: Double = 60) { self.interval = interval }

    /// When the next publication is due on the caller's monotonic clock; nil before the first.
    public func due() -> Double? { last.map { $0.at + interval } }

    /// Publishes if `plan` or `mode` differ from what was published last, or the interval has
    /// passed, or `force`. Returns a line to log when something could not be written.
    @discardableResult
    public func publish(_ reconciler: Reconciler, plan: Plan?, mode: Mode, at now: Double, force: Bool = false) -> String? {
        if !force, let last, last.plan == plan, last.mode == mode, now < last.at + interval { return nil }
        last = (plan, mode, now)
        var failures: [String] = []
        do throws(PortFwdError) {
            let report = try reconciler.status()
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
            let json: Data
            do { json = try encoder.encode(report) } catch { throw PortFwdError(.io, "cannot encode the status report: \(error)") }
            failures += Self.writeReport([UInt8](json) + [0x0A], store: reconciler.store)
            if let path = Self.textfile(reconciler.config.settings, store: reconciler.store) {
                do { try SafeFile.write(path, Array(PrometheusText(report).text.utf8), mode: 0o644) } catch { failures.append(error.message) }
            }
        } catch {
            failures.append("cannot take the status: \(error.oneLine)")
        }
        return failed(failures.isEmpty ? nil : "publishing the status: " + failures.joined(separator: "; "))
    }

    /// `line` (nil: all went well), unless it was said last time already.
    public func failed(_ line: String?) -> String? {
        defer { lastFailure = line }
        return line == lastFailure ? nil : line
    }

    /// Where the textfile goes, if anywhere.
    public static func textfile(_ settings: Settings, store: StateStore) -> String? {
        if let path = settings.prometheusTextfile { return path.isEmpty ? nil : path }
        // Only the service of the default state directory: a second instance (a test, say)
        // must not overwrite the host's metrics.
        guard store.directory == StateStore.defaultDirectory else { return nil }
        var st = stat()
        guard stat(debianTextfileDirectory, &st) == 0, st.st_mode & S_IFMT == S_IFDIR else { return nil }
        return debianTextfileDirectory + "/libvirt-portfwd.prom"
    }

    /// The report, and the state directory opened to its readers: traversable by the group,
    /// never listable or writable by it. Without the group, root alone reads it.
    static func writeReport(_ bytes: [UInt8], store: StateStore) -> [String] {
        let group = getgrnam(readers).map { $0.pointee.gr_gid }
        do {
            try SafeFile.directory(store.directory, create: true)
            var st = stat()
            if let group, lstat(store.directory, &st) == 0, st.st_gid != group || st.st_mode & 0o777 != 0o710 {
                guard chown(store.directory, geteuid(), group) == 0, chmod(store.directory, 0o710) == 0 else {
                    return ["cannot open \(store.directory) to group \(readers): \(SystemCall.reason())"]
                }
            }
            try SafeFile.write("\(store.directory)/\(reportName)", bytes, mode: group == nil ? 0o600 : 0o640, group: group)
            return []
        } catch {
            return [error.message]
        }
    }
}

/// The report the service published, as a reader without root finds it.
public struct PublishedStatus: Sendable {
    public let report: StatusReport
    /// Seconds since the service wrote it.
    public let age: Int

    /// nil when there is none; throws when there is one that cannot be read or decoded.
    public static func read(_ store: StateStore) throws(PortFwdError) -> PublishedStatus? {
        let path = "\(store.directory)/\(Publisher.reportName)"
        guard let bytes = try SafeFile.read(path, limit: 64 << 20) else { return nil }
        let report: StatusReport
        do { report = try JSONDecoder().decode(StatusReport.self, from: Data(bytes)) } catch {
            throw PortFwdError(.invalidInput, "\(path) is not a status report the service wrote (\(error))")
        }
        var st = stat()
        let written = stat(path, &st) == 0 ? Int64(st.st_mtim.tv_sec) : 0
        return PublishedStatus(report: report, age: Int(max(0, Int64(time(nil)) - written)))
    }
}
