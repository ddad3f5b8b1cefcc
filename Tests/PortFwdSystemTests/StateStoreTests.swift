import Foundation
import Testing
import PortFwdCore
import PortFwdSystem

/// The state directory is root's alone, like sshd's StrictModes (hardening, class 7): nothing
/// in it is followed through a symlink, and a directory or record others could have written
/// is refused with its path and mode.
@Suite struct StateStoreTests {
    let dir = TempDir()
    var store: StateStore { StateStore(directory: "\(dir.path)/run") }
    let guest = RunningGuest(uuid: try! DomainUUID(Fixtures.web1UUID), name: try! GuestName("web1"), address4: IPAddress("192.168.122.10"))

    @Test func recordsAreWrittenPrivately() throws {
        try store.save(guest)
        let attributes = try FileManager.default.attributesOfItem(atPath: "\(dir.path)/run/\(Fixtures.web1UUID).json")
        #expect(attributes[.posixPermissions] as? Int == 0o600)
        #expect(try FileManager.default.attributesOfItem(atPath: "\(dir.path)/run")[.posixPermissions] as? Int == 0o700)
        #expect(store.load().guests == [guest])
    }

    /// A symlink planted where a temporary file, the record or the lock goes is never written
    /// through, whatever its name.
    @Test func plantedSymlinksAreNeverFollowed() throws {
        try store.save(guest)
        let victim = TempDir()
        victim.write("target", "precious\n")
        let target = "\(victim.path)/target"
        for name in [".\(Fixtures.web1UUID).json.tmp", ".backend.tmp", "backend"] {
            try FileManager.default.createSymbolicLink(atPath: "\(dir.path)/run/\(name)", withDestinationPath: target)
        }
        try store.save(guest)
        try store.setLastBackend(.nftables)
        #expect(try String(contentsOfFile: target, encoding: .utf8) == "precious\n")
        // The record itself replaced by a symlink: refused on load, never read through.
        try FileManager.default.removeItem(atPath: "\(dir.path)/run/\(Fixtures.web1UUID).json")
        try FileManager.default.createSymbolicLink(atPath: "\(dir.path)/run/\(Fixtures.web1UUID).json", withDestinationPath: target)
        let loaded = store.load()
        #expect(loaded.guests.isEmpty)
        #expect(loaded.problems == ["skipping state record \(dir.path)/run/\(Fixtures.web1UUID).json: \(dir.path)/run/\(Fixtures.web1UUID).json is a "
            + "symlink; refusing to follow it"])
        // The lock too.
        try FileManager.default.createSymbolicLink(atPath: "\(dir.path)/run/lock", withDestinationPath: target)
        #expect(throws: PortFwdError.self) { try store.withLock { } }
        #expect(try String(contentsOfFile: target, encoding: .utf8) == "precious\n")
    }

    @Test func aDirectoryOthersCanWriteIsRefused() throws {
        try store.save(guest)
        chmod("\(dir.path)/run", 0o777)
        let expected = "\(dir.path)/run has mode 0777, writable by group or others; refusing to use it (chmod go-w)"
        #expect(throws: PortFwdError(.permission, expected)) { try store.save(guest) }
        #expect(throws: PortFwdError(.permission, expected)) { try store.withLock { } }
        #expect(store.load().problems == [expected])
        #expect(store.load().guests.isEmpty)
    }

    @Test(.enabled(if: geteuid() == 0, "chown needs root")) func aDirectoryOrRecordOwnedBySomeoneElseIsRefused() throws {
        try store.save(guest)
        let record = "\(dir.path)/run/\(Fixtures.web1UUID).json"
        chown(record, 65534, 65534)
        #expect(store.load().problems == ["skipping state record \(record): \(record) is owned by uid 65534, not root; refusing to use it"])
        chown(record, 0, 0)
        chmod(record, 0o666)
        #expect(store.load().problems == ["skipping state record \(record): \(record) has mode 0666, writable by group or others; refusing to use it "
            + "(chmod go-w)"])
        chmod(record, 0o600)
        chown("\(dir.path)/run", 65534, 65534)
        #expect(throws: PortFwdError(.permission, "\(dir.path)/run is owned by uid 65534, not root; refusing to use it")) { try store.save(guest) }
    }

    @Test func aStateDirectoryThatIsASymlinkIsRefused() throws {
        let elsewhere = TempDir()
        try FileManager.default.createSymbolicLink(atPath: "\(dir.path)/run", withDestinationPath: elsewhere.path)
        #expect(throws: PortFwdError(.permission, "\(dir.path)/run is not a directory (a symlink?); refusing to use it")) { try store.save(guest) }
    }

    @Test func aSnapshotPutsBackExactlyWhatWasThere() throws {
        try store.save(guest)
        let snapshot = store.snapshot([guest.uuid, try DomainUUID(Fixtures.web2UUID)])
        try store.remove(guest.uuid)
        try store.save(RunningGuest(uuid: try DomainUUID(Fixtures.web2UUID), name: try GuestName("web2")))
        try store.setMode(.all)
        #expect(store.restore(snapshot).isEmpty)
        #expect(store.load().guests == [guest])
        #expect(store.mode == .running)
    }
}
