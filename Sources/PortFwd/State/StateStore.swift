import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The state directory: one JSON record per running guest, named by domain UUID, and a lock
/// file. Every change runs under an exclusive flock, because libvirt runs hooks for different
/// guests concurrently.
public struct StateStore: Sendable {
    public static let defaultDirectory = "/run/libvirt-portfwd"
    public let directory: String

    public init(directory: String) { self.directory = directory }

    /// Runs `body` holding the exclusive lock.
    public func withLock<T>(_ body: () throws -> T) throws -> T {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true,
                                                attributes: [.posixPermissions: 0o700])
        let fd = open("\(directory)/lock", O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw StateError("cannot open \(directory)/lock: \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        while flock(fd, LOCK_EX) != 0 {
            guard errno == EINTR else { throw StateError("cannot lock \(directory)/lock: \(String(cString: strerror(errno)))") }
        }
        defer { flock(fd, LOCK_UN) }
        return try body()
    }

    /// Every readable record. Corrupt ones are reported in `problems` and skipped: one bad file
    /// must not take every other guest's forwards down with it.
    public func load() -> (guests: [RunningGuest], problems: [String]) {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: directory) else { return ([], []) }
        var guests: [RunningGuest] = []
        var problems: [String] = []
        for file in names.sorted() where file.hasSuffix(".json") {
            let path = "\(directory)/\(file)"
            do {
                let data = try Data(contentsOf: URL(fileURLWithPath: path))
                let guest = try JSONDecoder().decode(GuestRecord.self, from: data).validated()
                guard "\(guest.uuid).json" == file else { throw ParseError("file name does not match uuid \(guest.uuid)") }
                guests.append(guest)
            } catch let error as ParseError {
                problems.append("skipping corrupt state record \(path): \(error.reason)")
            } catch {
                problems.append("skipping corrupt state record \(path): \(error.localizedDescription)")
            }
        }
        return (guests, problems)
    }

    /// Writes a record atomically: temp file, fsync, rename, fsync of the directory.
    public func save(_ guest: RunningGuest) throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true,
                                                attributes: [.posixPermissions: 0o700])
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        let data = try encoder.encode(GuestRecord(guest))
        let final = "\(directory)/\(guest.uuid).json"
        let temp = "\(directory)/.\(guest.uuid).json.tmp"
        let fd = open(temp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw StateError("cannot write \(temp): \(String(cString: strerror(errno)))") }
        let written = data.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        let synced = fsync(fd)
        close(fd)
        guard written == data.count, synced == 0 else {
            unlink(temp)
            throw StateError("cannot write \(temp): \(String(cString: strerror(errno)))")
        }
        guard rename(temp, final) == 0 else { throw StateError("cannot rename \(temp): \(String(cString: strerror(errno)))") }
        syncDirectory()
    }

    /// Whether a record exists. Cheap and lock-free: the no-forwards path must not touch anything.
    public func has(_ uuid: DomainUUID) -> Bool {
        access("\(directory)/\(uuid).json", F_OK) == 0
    }

    public func remove(_ uuid: DomainUUID) throws {
        let path = "\(directory)/\(uuid).json"
        if unlink(path) != 0 && errno != ENOENT {
            throw StateError("cannot remove \(path): \(String(cString: strerror(errno)))")
        }
        syncDirectory()
    }

    /// The backend that applied last (see Reconciler.retire).
    public func lastBackend() -> String? {
        (try? String(contentsOfFile: "\(directory)/backend", encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    public func setLastBackend(_ name: String) {
        guard lastBackend() != name else { return }
        try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        try? Data((name + "\n").utf8).write(to: URL(fileURLWithPath: "\(directory)/backend"), options: .atomic)
    }

    private func syncDirectory() {
        let fd = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if fd >= 0 { fsync(fd); close(fd) }
    }
}

public struct StateError: Error, Sendable, CustomStringConvertible {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
