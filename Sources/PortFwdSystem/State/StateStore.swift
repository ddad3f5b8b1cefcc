import FoundationEssentials
import PortFwdCore
#if canImport(Glibc)
import Glibc
#endif

/// The state directory: one JSON record per running guest, named by domain UUID, a lock file,
/// and a few small files (which backend applied last, the recorded mode, the last config that
/// applied). Every change runs under an exclusive flock, because libvirt runs hooks for
/// different guests concurrently.
///
/// Other people must not be able to steer it: the directory and every file in it must be
/// owned by root (or the user running the tool) and not writable by group or others, and no
/// path in it is followed through a symlink (`SafeFile`).
public struct StateStore: Sendable {
    public static let defaultDirectory = "/run/libvirt-portfwd"
    public let directory: String

    public init(directory: String) { self.directory = directory }

    /// Runs `body` holding the exclusive lock; with `timeout`, gives up waiting after that
    /// many seconds (`flush` goes on without it rather than wait on a stuck holder).
    public func withLock<T>(timeout: Double? = nil, _ body: () throws -> T) throws -> T {
        try SafeFile.directory(directory, create: true)
        let path = "\(directory)/lock"
        let fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK, 0o600)
        guard fd >= 0 else { throw SafeFile.error("cannot open \(path)") }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0, st.st_mode & S_IFMT == S_IFREG else {
            throw PortFwdError(.permission, "\(path) is not a regular file (\(SafeFile.kind(st.st_mode))); refusing to lock it")
        }
        if let refusal = SafeFile.refusal(path, st) { throw PortFwdError(.permission, refusal) }
        let deadline = timeout.map { Date().addingTimeInterval($0) }
        while SystemCall.retrying({ flock(fd, deadline == nil ? LOCK_EX : LOCK_EX | LOCK_NB) }) != 0 {
            guard errno == EWOULDBLOCK, let deadline else { throw SafeFile.error("cannot lock \(path)") }
            guard Date() < deadline else { throw PortFwdError(.io, "cannot lock \(path): another process has held it for \(Int(timeout!)) s") }
            usleep(50_000)
        }
        defer { flock(fd, LOCK_UN) }
        return try body()
    }

    /// The records as read: the guests, one line per record skipped, and the guests whose
    /// record is named by their UUID but does not read.
    public struct Loaded: Sendable {
        public var guests: [RunningGuest] = []
        public var problems: [String] = []
        public var unreadable: [DomainUUID] = []
    }

    /// Every readable record. Corrupt or refused ones are reported in `problems` and skipped:
    /// one bad file must not take every other guest's forwards down with it.
    public func load() -> Loaded {
        guard let names = Directory.names(directory) else { return Loaded() }
        do { try SafeFile.directory(directory, create: false) } catch { return Loaded(problems: [error.message]) }
        var guests: [RunningGuest] = []
        var problems: [String] = []
        var unreadable: [DomainUUID] = []
        for file in names.sorted() where file.hasSuffix(".json") && !file.hasPrefix(".") {
            let path = "\(directory)/\(file)"
            do throws(PortFwdError) {
                guard let bytes = try SafeFile.read(path) else { continue }
                let record: GuestRecord
                do { record = try JSONDecoder().decode(GuestRecord.self, from: Data(bytes)) } catch {
                    throw PortFwdError(.invalidInput, "not a record (\(Self.describe(error)))")
                }
                let guest = try record.validated()
                guard "\(guest.uuid).json" == file else { throw PortFwdError(.invalidInput, "file name does not match uuid \(guest.uuid)") }
                guests.append(guest)
            } catch {
                problems.append("skipping state record \(path): \(error.message)")
                if let uuid = try? DomainUUID(String(file.dropLast(".json".count))) { unreadable.append(uuid) }
            }
        }
        return Loaded(guests: guests, problems: problems, unreadable: unreadable)
    }

    /// The record of one guest, if it exists and reads.
    public func record(_ uuid: DomainUUID) -> RunningGuest? {
        guard let bytes = try? SafeFile.read(path(uuid)),
              let record = try? JSONDecoder().decode(GuestRecord.self, from: Data(bytes)) else { return nil }
        return try? record.validated()
    }

    /// Writes a record atomically.
    public func save(_ guest: RunningGuest) throws(PortFwdError) {
        try SafeFile.directory(directory, create: true)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        let data: Data
        do { data = try encoder.encode(GuestRecord(guest)) } catch { throw PortFwdError(.io, "cannot encode the record of \(guest.name): \(error)") }
        try SafeFile.write(path(guest.uuid), [UInt8](data))
    }

    /// Whether a record exists. Cheap and lock-free: the no-forwards path must not touch anything.
    public func has(_ uuid: DomainUUID) -> Bool {
        access(path(uuid), F_OK) == 0
    }

    public func remove(_ uuid: DomainUUID) throws(PortFwdError) {
        try SafeFile.remove(path(uuid))
    }

    func path(_ uuid: DomainUUID) -> String { "\(directory)/\(uuid).json" }

    // MARK: - guests stopped lately

    /// Notes that these guests stopped. libvirt removes a domain's status file only after its
    /// stop hooks ran, so a service check in between would see it still running and adopt it.
    /// Best effort: a tombstone that cannot be written costs at most that race.
    public func markStopped(_ uuids: [DomainUUID], at now: Int64) {
        for uuid in uuids { try? SafeFile.write("\(directory)/\(uuid).stopped", Array("\(now)\n".utf8)) }
    }

    /// A guest that starts again is no longer one that stopped.
    public func clearStopped(_ uuid: DomainUUID) {
        try? SafeFile.remove("\(directory)/\(uuid).stopped")
    }

    /// Guests that stopped within `window` seconds; older notes are removed.
    public func recentlyStopped(now: Int64, window: Int64) -> Set<DomainUUID> {
        guard let names = Directory.names(directory) else { return [] }
        var result = Set<DomainUUID>()
        for file in names where file.hasSuffix(".stopped") && !file.hasPrefix(".") {
            guard let uuid = try? DomainUUID(String(file.dropLast(".stopped".count))) else { continue }
            let path = "\(directory)/\(file)"
            let when = ((try? SafeFile.read(path, limit: 64)) ?? nil).flatMap { Int64(String(decoding: $0, as: UTF8.self).trimmed) } ?? 0
            if now - when < window { result.insert(uuid) } else { try? SafeFile.remove(path) }
        }
        return result
    }

    // MARK: - small files

    /// The backend that applied last (see Reconciler's retiring of the other one).
    public var lastBackend: Settings.Backend? { small("backend").flatMap(Settings.Backend.init(rawValue:)) }
    public func setLastBackend(_ backend: Settings.Backend) throws(PortFwdError) {
        guard lastBackend != backend else { return }
        try setSmall("backend", backend.rawValue)
    }

    /// The last config that applied, as a bundle of its files (`ConfigFiles.bundle`), for
    /// operations that must work when the config on disk does not parse (stopping a guest
    /// must still remove its forwards). `config.applied`; before it, `config.last` held the
    /// files split by marker lines, and is read, converted, until the next apply replaces it.
    public var lastConfig: String? {
        if let text = small("config.applied", limit: ConfigFiles.maximumBundleSize, trimmed: false) { return text }
        guard let legacy = small("config.last", limit: ConfigFiles.maximumBundleSize, trimmed: false) else { return nil }
        return ConfigFiles(legacyBundle: legacy, main: "").bundle
    }

    /// `bundle`: `ConfigFiles.bundle` of the config that applied.
    public func setLastConfig(_ bundle: String) throws(PortFwdError) {
        if small("config.applied", limit: ConfigFiles.maximumBundleSize, trimmed: false) != bundle {
            try setSmall("config.applied", bundle, trimmed: false)
        }
        // Only when it is there: a removal syncs the directory.
        var st = stat()
        if lstat("\(directory)/config.last", &st) == 0 { try SafeFile.remove("\(directory)/config.last") }
    }

    /// What the kernel made of our rules at the last install (`RuleContents`), `rules`; nil
    /// when unknown or unreadable: then rules are compared by identity alone.
    public var ruleContents: RuleContents? {
        small("rules", limit: 64 << 10, trimmed: false).flatMap(RuleContents.init(text:))
    }

    /// Written only when it changed: the rules' expressions change with the settings, not
    /// with every guest. nil removes it (what the kernel holds is not known).
    public func setRuleContents(_ contents: RuleContents?) throws(PortFwdError) {
        guard let contents else {
            if small("rules", limit: 64 << 10, trimmed: false) != nil { try SafeFile.remove("\(directory)/rules") }
            return
        }
        guard ruleContents != contents else { return }
        try setSmall("rules", contents.text, trimmed: false)
    }

    /// Which guests the rules cover, as the last transaction left it: `running` (no file),
    /// `all` configured ones (`apply --all`), or `off` (`flush`). A file holding anything else
    /// reads as `running`, what the hooks do by themselves.
    public var mode: Mode { small("mode").flatMap(Mode.init(rawValue:)) ?? .running }
    public func setMode(_ mode: Mode) throws(PortFwdError) {
        let text = mode == .running ? nil : mode.rawValue
        guard small("mode") != text else { return }
        if let text { try setSmall("mode", text) } else { try SafeFile.remove("\(directory)/mode") }
    }

    private func small(_ name: String, limit: Int = 4096, trimmed: Bool = true) -> String? {
        guard let bytes = try? SafeFile.read("\(directory)/\(name)", limit: limit),
              let text = String(validating: bytes, as: UTF8.self) else { return nil }
        return trimmed ? text.trimmed : text
    }

    private func setSmall(_ name: String, _ text: String, trimmed: Bool = true) throws(PortFwdError) {
        try SafeFile.directory(directory, create: true)
        try SafeFile.write("\(directory)/\(name)", Array((trimmed ? text + "\n" : text).utf8))
    }

    // MARK: - rollback

    /// The bytes of some files of the store as they are now (nil: absent), to put back.
    public struct Snapshot: Sendable {
        fileprivate let files: [(path: String, bytes: [UInt8]?)]
    }

    public func snapshot(_ uuids: [DomainUUID], small names: [String] = ["backend", "config.applied", "config.last", "mode"]) -> Snapshot {
        let paths = uuids.map(path) + names.map { "\(directory)/\($0)" }
        // Anything but a regular file of ours counts as absent: load() refused it already, and
        // a rollback then leaves no record there.
        return Snapshot(files: paths.map { p in (p, (try? SafeFile.read(p, limit: ConfigFiles.maximumBundleSize)) ?? nil) })
    }

    /// Puts every file of the snapshot back as it was; reports what could not be.
    public func restore(_ snapshot: Snapshot) -> [String] {
        var failures: [String] = []
        for (path, bytes) in snapshot.files {
            do {
                if let bytes { try SafeFile.write(path, bytes) } else { try SafeFile.remove(path) }
            } catch { failures.append(error.message) }
        }
        return failures
    }

    private static func describe(_ error: Error) -> String {
        if case DecodingError.keyNotFound(let key, _) = error { return "no \(key.stringValue)" }
        if case DecodingError.typeMismatch(_, let context) = error {
            return "wrong type at \(context.codingPath.map(\.stringValue).joined(separator: "."))"
        }
        if case DecodingError.dataCorrupted(let context) = error { return context.debugDescription }
        return "\(error)"
    }
}

extension StateStore {
    /// Whether the watch service runs: it holds a lock on `watch.lock` for its lifetime, so
    /// the answer cannot be fooled by a stale pid file.
    public var serviceRunning: Bool {
        let fd = open("\(directory)/watch.lock", O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0, st.st_mode & S_IFMT == S_IFREG else { return false }
        if flock(fd, LOCK_SH | LOCK_NB) == 0 { flock(fd, LOCK_UN); return false }
        return errno == EWOULDBLOCK
    }

    /// How many times the running service repaired other programs' changes since it started,
    /// as it last wrote it (`watch.repairs`); nil when absent or not a plain number.
    public var serviceRepairs: UInt64? {
        guard let bytes = try? SafeFile.read("\(directory)/watch.repairs", limit: 64), bytes.count <= 21 else { return nil }
        let text = String(decoding: bytes, as: UTF8.self)
        guard text.last == "\n", let n = UInt64(text.dropLast()) else { return nil }
        return n
    }

    /// Written by the service after each repair (and 0 when it starts).
    public func saveServiceRepairs(_ n: UInt64) throws(PortFwdError) {
        try SafeFile.write("\(directory)/watch.repairs", Array("\(n)\n".utf8), mode: 0o644)
    }

    /// Takes the service's lock for the life of the process; fails if another service holds it.
    public func holdServiceLock() throws(PortFwdError) -> Int32 {
        try SafeFile.directory(directory, create: true)
        let path = "\(directory)/watch.lock"
        let fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK, 0o600)
        guard fd >= 0 else { throw SafeFile.error("cannot open \(path)") }
        var st = stat()
        guard fstat(fd, &st) == 0, st.st_mode & S_IFMT == S_IFREG else {
            close(fd)
            throw PortFwdError(.permission, "\(path) is not a regular file; refusing to lock it")
        }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            close(fd)
            throw PortFwdError(.exists, "another libvirt-portfwd watch is running (it holds \(path))")
        }
        return fd
    }
}
