import Foundation
import Testing
import PortFwdSystem

/// The read-all used for the hook's stdin and for every file the tool reads.
@Suite struct SystemCallTests {
    /// A pipe holding `bytes`, its writing end closed.
    func pipe(_ bytes: [UInt8]) -> Int32 {
        var fds: [Int32] = [0, 0]
        #expect(Glibc.pipe(&fds) == 0)
        #expect(SystemCall.writeAll(fds[1], bytes))
        close(fds[1])
        return fds[0]
    }

    @Test func whatFitsIsReadWhole() {
        let bytes = (0..<5000).map { UInt8(truncatingIfNeeded: $0) }
        let fd = pipe(bytes)
        defer { close(fd) }
        let read = SystemCall.readAll(fd, limit: 5000, drain: false)
        #expect(read.bytes == bytes && read.complete && read.failure == nil)
    }

    /// Past the limit: what is kept is a prefix, `complete` says something was left out, and
    /// with `drain` the rest is read all the same (libvirt must see its XML consumed).
    @Test(arguments: [false, true])
    func pastTheLimitKeepsAPrefix(drain: Bool) throws {
        // Larger than a read's chunk (64 KiB), so that a read stops before the end.
        let bytes = (0..<300_000).map { UInt8(truncatingIfNeeded: $0 * 7) }
        let dir = TempDir()
        let path = "\(dir.path)/big"
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        let fd = open(path, O_RDONLY)
        defer { close(fd) }
        let read = SystemCall.readAll(fd, limit: 200_000, drain: drain)
        #expect(!read.complete && read.failure == nil)
        #expect(Array(bytes.prefix(read.bytes.count)) == read.bytes && read.bytes.count <= 200_000 && read.bytes.count > 0)
        var rest = [UInt8](repeating: 0, count: 16)
        #expect((Glibc.read(fd, &rest, 16) == 0) == drain, "read to the end only when asked")
    }

    @Test func aFailedReadSaysWhy() {
        let read = SystemCall.readAll(-1, limit: 10, drain: false)
        #expect(read.failure == EBADF && SystemCall.reason(EBADF) == "Bad file descriptor")
    }
}

/// `Directory.names` lists what FileManager lists: every entry, "." and ".." left out.
@Suite struct DirectoryTests {
    @Test func theSameNamesAsFileManager() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("pf-dir-\(getpid())").path
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: root) }
        for name in ["a.xml", ".hidden", "é ü", "sub"] {
            FileManager.default.createFile(atPath: "\(root)/\(name)", contents: Data("x".utf8))
        }
        try FileManager.default.createSymbolicLink(atPath: "\(root)/link", withDestinationPath: "/nonexistent")
        let expected = try FileManager.default.contentsOfDirectory(atPath: root).sorted()
        let names = Directory.names(root) ?? []
        #expect(names.sorted() == expected)
        #expect(expected.count == 5)
        #expect(Directory.names("\(root)/a.xml") == nil)
        #expect(Directory.names("\(root)/absent") == nil)
    }
}
