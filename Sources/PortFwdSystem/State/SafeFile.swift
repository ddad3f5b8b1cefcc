import FoundationEssentials
import PortFwdCore
#if canImport(Glibc)
import Glibc
#endif

/// File operations for paths that other people might be able to plant things in: nothing is
/// followed through a symlink, new files are created exclusively, and a directory or file that
/// someone other than root (or the user running the tool) could have written is refused, the
/// way sshd's StrictModes refuses a writable ~/.ssh.
public enum SafeFile {
    /// Why `st` may not be trusted, or nil: it must be owned by root or by us, and not be
    /// writable by group or others.
    static func refusal(_ path: String, _ st: stat) -> String? {
        let owner = st.st_uid
        if owner != 0 && owner != geteuid() {
            return "\(path) is owned by uid \(owner), not root; refusing to use it"
        }
        let mode = st.st_mode & 0o7777
        if mode & 0o022 != 0 {
            return "\(path) has mode \(String(mode, radix: 8, uppercase: false).leftPadded(4)), writable by group or others; "
                + "refusing to use it (chmod go-w)"
        }
        return nil
    }

    /// Creates `path` as a directory (mode 0700 unless told) if it is missing, and checks it
    /// either way.
    public static func directory(_ path: String, create: Bool, mode: mode_t = 0o700) throws(PortFwdError) {
        var st = stat()
        if lstat(path, &st) != 0 {
            guard errno == ENOENT, create else { throw error("cannot use \(path)") }
            let parent = Self.parent(of: path)
            if !parent.isEmpty && parent != path { try directory(parent, create: true, strict: false) }
            guard mkdir(path, mode) == 0 || errno == EEXIST else { throw error("cannot create \(path)") }
            guard lstat(path, &st) == 0 else { throw error("cannot use \(path)") }
        }
        guard st.st_mode & S_IFMT == S_IFDIR else { throw PortFwdError(.permission, "\(path) is not a directory (a symlink?); refusing to use it") }
        if let refusal = refusal(path, st) { throw PortFwdError(.permission, refusal) }
    }

    /// Parents of the state directory only need to exist (they are /run and such).
    private static func directory(_ path: String, create: Bool, strict: Bool) throws(PortFwdError) {
        var st = stat()
        if stat(path, &st) == 0 { return }
        let parent = Self.parent(of: path)
        if !parent.isEmpty && parent != path { try directory(parent, create: true, strict: false) }
        guard mkdir(path, 0o755) == 0 || errno == EEXIST else { throw error("cannot create \(path)") }
    }

    /// Who may have written a file that is read.
    public enum Trust: Sendable {
        /// Ours: owned by root or us, not writable by group or others, never through a symlink.
        case strict
        /// Another program's (libvirt's leases, network and status files): any owner, and a
        /// symlink is followed, but it must still be a regular file.
        case regularFile
    }

    /// Reads a file that must be a regular file (and with `.strict`, pass `refusal`), up to
    /// `limit` bytes. nil when it does not exist. Never blocks: a FIFO or a device planted
    /// under the name is refused with a line, not waited on while the state lock is held.
    public static func read(_ path: String, limit: Int = 1 << 20, trust: Trust = .strict) throws(PortFwdError) -> [UInt8]? {
        guard let fd = try openRegular(path, trust: trust, limit: limit) else { return nil }
        defer { close(fd) }
        return try readAll(fd, path: path, limit: limit)
    }

    /// The one way a file is opened for reading: O_NONBLOCK (opening a FIFO would otherwise
    /// wait for a writer), then fstat on the open descriptor, so the checks hold for what is
    /// read. nil when it does not exist.
    static func openRegular(_ path: String, trust: Trust, limit: Int) throws(PortFwdError) -> Int32? {
        let follow = trust == .strict ? O_NOFOLLOW : 0
        let fd = open(path, O_RDONLY | follow | O_CLOEXEC | O_NONBLOCK | O_NOCTTY)
        if fd < 0 {
            if errno == ENOENT { return nil }
            if errno == ELOOP { throw PortFwdError(.permission, "\(path) is a symlink; refusing to follow it") }
            throw error("cannot read \(path)")
        }
        var st = stat()
        guard fstat(fd, &st) == 0 else { let e = error("cannot read \(path)"); close(fd); throw e }
        guard st.st_mode & S_IFMT == S_IFREG else {
            close(fd)
            throw PortFwdError(.permission, "\(path) is not a regular file (\(kind(st.st_mode))); refusing to read it")
        }
        if trust == .strict, let refusal = refusal(path, st) { close(fd); throw PortFwdError(.permission, refusal) }
        guard st.st_size <= limit else { close(fd); throw PortFwdError(.invalidInput, "\(path) is \(st.st_size) bytes, more than \(limit)") }
        return fd
    }

    /// A kernel file's text (/proc, /sys), read with read(2) to its end. Such files report
    /// size 0; Foundation's String(contentsOfFile:) leaked a page per read of one (4 KiB a
    /// call, every wake-up of a service that runs for months). nil when it cannot be read.
    public static func kernelText(_ path: String, limit: Int = 1 << 20) -> String? {
        guard let bytes = (try? read(path, limit: limit, trust: .regularFile)) ?? nil else { return nil }
        return String(decoding: bytes, as: UTF8.self)
    }

    static func kind(_ mode: mode_t) -> String {
        switch mode & S_IFMT {
        case S_IFIFO: return "a FIFO"
        case S_IFSOCK: return "a socket"
        case S_IFCHR, S_IFBLK: return "a device"
        case S_IFDIR: return "a directory"
        case S_IFLNK: return "a symlink"
        default: return "not a file"
        }
    }

    static func readAll(_ fd: Int32, path: String, limit: Int) throws(PortFwdError) -> [UInt8] {
        let read = SystemCall.readAll(fd, limit: limit, drain: false)
        if let failure = read.failure { errno = failure; throw error("cannot read \(path)") }
        guard read.complete else { throw PortFwdError(.invalidInput, "\(path) is more than \(limit) bytes") }
        return read.bytes
    }

    /// Replaces `path` atomically: a new file created exclusively (O_EXCL, O_NOFOLLOW) beside
    /// it, written, synced, and renamed over it; then the directory is synced. With `group`,
    /// the file belongs to that group before it takes the name (a report some may read).
    public static func write(_ path: String, _ bytes: [UInt8], mode: mode_t = 0o600, group: gid_t? = nil) throws(PortFwdError) {
        let directory = Self.parent(of: path)
        let name = path.split(separator: "/").last.map(String.init) ?? path
        var fd: Int32 = -1
        var temp = ""
        for _ in 0..<8 {
            temp = "\(directory)/.\(name).\(String(UInt32.random(in: 0...UInt32.max), radix: 16)).tmp"
            fd = open(temp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode)
            if fd >= 0 || errno != EEXIST { break }
        }
        guard fd >= 0 else { throw error("cannot write \(temp)") }
        let written = SystemCall.writeAll(fd, bytes)
        let failure = errno
        let synced = written && (group.map { fchown(fd, geteuid(), $0) == 0 } ?? true) && fchmod(fd, mode) == 0 && fsync(fd) == 0
        close(fd)
        guard synced else {
            unlink(temp)
            errno = failure
            throw error("cannot write \(temp)")
        }
        guard rename(temp, path) == 0 else {
            let e = error("cannot rename \(temp) to \(path)")
            unlink(temp)
            throw e
        }
        syncDirectory(directory)
    }

    /// Removes `path` (never what a symlink there points to); a missing file is fine.
    public static func remove(_ path: String) throws(PortFwdError) {
        if unlink(path) != 0 && errno != ENOENT { throw error("cannot remove \(path)") }
        syncDirectory(Self.parent(of: path))
    }

    /// The directory a path is in: `/run/x/y` -> `/run/x`, `/y` -> `/`, `y` -> ``.
    static func parent(of path: String) -> String {
        var trimmed = Substring(path)
        while trimmed.count > 1 && trimmed.hasSuffix("/") { trimmed = trimmed.dropLast() }
        guard let slash = trimmed.lastIndex(of: "/") else { return "" }
        return slash == trimmed.startIndex ? "/" : String(trimmed[..<slash])
    }

    static func syncDirectory(_ path: String) {
        let fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if fd >= 0 { fsync(fd); close(fd) }
    }

    /// An error from errno, with its code classified once here.
    static func error(_ what: String) -> PortFwdError {
        let e = errno
        let code: PortFwdError.Code
        switch e {
        case ENOENT: code = .notFound
        case EEXIST: code = .exists
        case EPERM, EACCES, EROFS: code = .permission
        default: code = .io
        }
        return PortFwdError(code, "\(what): \(SystemCall.reason(e))")
    }
}

private extension String {
    func leftPadded(_ width: Int) -> String { String(repeating: "0", count: max(0, width - count)) + self }
}
