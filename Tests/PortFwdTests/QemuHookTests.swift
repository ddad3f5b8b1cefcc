import Foundation
import Testing
@testable import PortFwd

/// Every hook operation against a recording backend: what is recorded, what is applied,
/// what the exit status is, and what is logged.
@Suite struct QemuHookTests {
    let state = TempDir()
    let tree = TempDir()
    let backend = RecordingBackend()
    let log = RecordingLog()

    static let web1 = "b25138cb-e016-4a00-af7a-35d7ccb49851"
    static let web2 = "0a0b0c0d-0000-4000-8000-000000000002"

    func hook(_ toml: String = "") throws -> QemuHook {
        tree.write("etc/libvirt/qemu/networks/default.xml", """
            <network><name>default</name><bridge name='virbr0'/>
            <ip address='192.168.122.1' netmask='255.255.255.0'><dhcp><host mac='52:54:00:00:00:10' ip='192.168.122.10'/></dhcp></ip></network>
            """)
        let backend = self.backend
        return QemuHook(config: try Config.parse(toml), store: StateStore(directory: state.path),
                        discovery: AddressDiscovery(paths: LibvirtPaths(root: tree.path)), log: log, backends: { (backend, []) })
    }

    let configWeb1 = "[[guest]]\nname = \"web1\"\nforwards = [\"8080:80\"]\n"

    func xml(_ name: String = "web1", uuid: String = web1, mac: String = "52:54:00:00:00:10", metadata: String = "") -> Data {
        DomainFixtures.domain(name: name, uuid: uuid, metadata: metadata,
                              interfaces: "<interface type='network'><mac address='\(mac)'/><source network='default' bridge='virbr0'/></interface>")
    }

    var records: [RunningGuest] { StateStore(directory: state.path).load().guests }

    @Test func guestWithoutForwardsTouchesNothing() throws {
        let h = try hook()
        for op in ["prepare", "start", "started", "stopped", "release", "reconnect"] {
            #expect(h.handle(guest: "web1", operation: op, subOperation: "begin", xml: xml()) == 0)
        }
        #expect(backend.applied.isEmpty)
        #expect(!FileManager.default.fileExists(atPath: "\(state.path)/lock"), "the no-op path must not even take the lock")
    }

    @Test func prepareChecksWithoutApplyingOrRecording() throws {
        let h = try hook(configWeb1)
        #expect(h.handle(guest: "web1", operation: "prepare", subOperation: "begin", xml: xml()) == 0)
        #expect(backend.applied.isEmpty)
        #expect(records.isEmpty)
    }

    @Test func startRecordsTheGuestAndApplies() throws {
        let h = try hook(configWeb1)
        #expect(h.handle(guest: "web1", operation: "start", subOperation: "begin", xml: xml()) == 0)
        #expect(records.map(\.uuid.value) == [Self.web1])
        #expect(records.first?.addressSource == "dhcp-host")
        let plan = try #require(backend.applied.last)
        #expect(plan.entries.map { "\($0.hostPorts)->\($0.guestAddress):\($0.guestPorts)" } == ["8080->192.168.122.10:80"])
        #expect(log.infos == ["guest web1 start: 1 forwards, \(log.infos.first?.split(separator: ",").last?.dropFirst() ?? "")"])
        #expect(FileManager.default.fileExists(atPath: "\(state.path)/\(Self.web1).json"))
    }

    @Test func startFailureExitsOneAndForgetsTheGuest() throws {
        let h = try hook(configWeb1)
        backend.failApply = "nftables refused the ruleset"
        #expect(h.handle(guest: "web1", operation: "start", subOperation: "begin", xml: xml()) == 1)
        #expect(records.isEmpty)
        #expect(log.errors == ["cannot start guest web1: nftables refused the ruleset"])
    }

    @Test func conflictWithARunningGuestFailsPrepareNamingBoth() throws {
        let h = try hook("""
            [[guest]]
            name = "web1"
            forwards = ["8080:80"]
            [[guest]]
            name = "web2"
            address = "192.168.122.11"
            forwards = ["8080:8080"]
            """)
        #expect(h.handle(guest: "web1", operation: "start", subOperation: "begin", xml: xml()) == 0)
        let status = h.handle(guest: "web2", operation: "prepare", subOperation: "begin", xml: xml("web2", uuid: Self.web2, mac: "52:54:00:00:00:11"))
        #expect(status == 1)
        #expect(log.errors == ["cannot start guest web2: conflict: tcp port 8080 on every address: guests web1 and web2 both claim it (8080:80/tcp and 8080:8080/tcp)"])
        #expect(backend.applied.count == 1)
    }

    @Test func stoppedRemovesAndReappliesThenReleaseIsANoOp() throws {
        let h = try hook(configWeb1)
        #expect(h.handle(guest: "web1", operation: "start", subOperation: "begin", xml: xml()) == 0)
        #expect(h.handle(guest: "web1", operation: "stopped", subOperation: "end", xml: xml()) == 0)
        #expect(records.isEmpty)
        #expect(backend.applied.count == 2)
        #expect(backend.applied.last?.entries.isEmpty == true)
        #expect(h.handle(guest: "web1", operation: "release", subOperation: "end", xml: xml()) == 0)
        #expect(backend.applied.count == 2)
    }

    @Test func stoppedNeverFailsEvenWhenApplyDoes() throws {
        let h = try hook(configWeb1)
        #expect(h.handle(guest: "web1", operation: "start", subOperation: "begin", xml: xml()) == 0)
        backend.failApply = "boom"
        #expect(h.handle(guest: "web1", operation: "stopped", subOperation: "end", xml: xml()) == 0)
        #expect(log.errors == ["guest web1 stopped: boom"])
    }

    @Test func reconnectReRecordsAndReappliesAndNeverFails() throws {
        let h = try hook(configWeb1)
        #expect(h.handle(guest: "web1", operation: "reconnect", subOperation: "begin", xml: xml()) == 0)
        #expect(records.count == 1)
        #expect(backend.applied.count == 1)
        backend.failApply = "kernel said no"
        #expect(h.handle(guest: "web1", operation: "reconnect", subOperation: "begin", xml: xml()) == 0)
        #expect(h.handle(guest: "web1", operation: "attach", subOperation: "begin", xml: xml()) == 0)
        #expect(h.handle(guest: "web1", operation: "reconnect", subOperation: "begin", xml: Data("garbage".utf8)) == 0)
        #expect(log.errors.count == 3)
    }

    @Test func reconnectWithUndiscoverableAddressKeepsTheRecord() throws {
        let h = try hook(configWeb1)
        #expect(h.handle(guest: "web1", operation: "start", subOperation: "begin", xml: xml()) == 0)
        // The DHCP host entry is gone now, but the guest is still running with its address.
        tree.write("etc/libvirt/qemu/networks/default.xml", "<network><name>default</name><bridge name='virbr0'/></network>")
        #expect(h.handle(guest: "web1", operation: "reconnect", subOperation: "begin", xml: xml()) == 0)
        #expect(records.first?.address4?.description == "192.168.122.10")
        #expect(backend.applied.last?.entries.count == 1)
    }

    @Test func migrateRestoreStartedAndUnknownOperationsDoNothing() throws {
        let h = try hook(configWeb1)
        for op in ["migrate", "restore", "started", "some-future-op"] {
            #expect(h.handle(guest: "web1", operation: op, subOperation: "begin", xml: xml()) == 0)
        }
        #expect(backend.applied.isEmpty && records.isEmpty && log.errors.isEmpty)
    }

    @Test func metadataForwardsMergeWithConfigForwards() throws {
        let h = try hook(configWeb1)
        let meta = "<forwards xmlns='urn:libvirt-portfwd:1'><forward spec='9090:90' source='203.0.113.0/24'/></forwards>"
        #expect(h.handle(guest: "web1", operation: "start", subOperation: "begin", xml: xml(metadata: meta)) == 0)
        let entries = try #require(backend.applied.last).entries
        #expect(entries.map(\.forward.description) == ["8080:80/tcp", "9090:90/tcp from 203.0.113.0/24"])
    }

    @Test func metadataAloneDeclaresForwardsAndAddress() throws {
        let h = try hook()
        let meta = DomainFixtures.virshMetadata.replacingOccurrences(of: "192.168.122.10", with: "192.168.122.77")
        #expect(h.handle(guest: "web1", operation: "start", subOperation: "begin", xml: xml(metadata: meta)) == 0)
        #expect(records.first?.addressSource == "explicit")
        #expect(backend.applied.last?.entries.first?.guestAddress.description == "192.168.122.77")
    }

    @Test func metadataOffIgnoresMetadata() throws {
        let h = try hook("[settings]\nmetadata = false\n")
        #expect(h.handle(guest: "web1", operation: "start", subOperation: "begin", xml: xml(metadata: DomainFixtures.virshMetadata)) == 0)
        #expect(backend.applied.isEmpty)
    }

    @Test func metadataOutsideAllowedHostPortsIsRefusedAtPrepare() throws {
        let h = try hook("[settings]\nmetadata-host-ports = [\"8000-8999\"]\n")
        let meta = "<forwards xmlns='urn:libvirt-portfwd:1'><forward spec='22'/></forwards>"
        #expect(h.handle(guest: "web1", operation: "prepare", subOperation: "begin", xml: xml(metadata: meta)) == 1)
        #expect(log.errors == ["cannot start guest web1: guest web1: metadata forward 22:22/tcp uses host ports outside settings.metadata-host-ports (8000-8999)"])
        // Config forwards are the admin's own and are not limited.
        let h2 = try hook("[settings]\nmetadata-host-ports = [\"8000-8999\"]\n[[guest]]\nname = \"web1\"\nforwards = [\"22\"]\n")
        #expect(h2.handle(guest: "web1", operation: "prepare", subOperation: "begin", xml: xml()) == 0)
    }

    @Test func missingAddressFailsPrepareWithAHint() throws {
        let h = try hook(configWeb1)
        #expect(h.handle(guest: "web1", operation: "prepare", subOperation: "begin", xml: xml(mac: "52:54:00:00:00:99")) == 1)
        #expect(log.errors.first?.hasPrefix("cannot start guest web1: no address for guest web1: add address") == true)
    }

    @Test func corruptRecordIsSkippedNotFatal() throws {
        let h = try hook(configWeb1)
        try "{ not json".write(toFile: "\(state.path)/0a0b0c0d-0000-4000-8000-00000000dead.json", atomically: true, encoding: .utf8)
        #expect(h.handle(guest: "web1", operation: "start", subOperation: "begin", xml: xml()) == 0)
        #expect(backend.applied.last?.entries.count == 1)
        let loaded = StateStore(directory: state.path).load()
        #expect(loaded.guests.count == 1)
        #expect(loaded.problems.count == 1)
    }

    @Test func tamperedRecordCannotInjectRuleText() throws {
        let h = try hook()
        try """
            {"version":1,"uuid":"\(Self.web1)","name":"web1","address4":"192.168.122.10; flush ruleset","metadataForwards":[]}
            """.write(toFile: "\(state.path)/\(Self.web1).json", atomically: true, encoding: .utf8)
        let loaded = StateStore(directory: state.path).load()
        #expect(loaded.guests.isEmpty)
        #expect(loaded.problems.first?.contains("bad address") == true)
        _ = h
    }

    @Test func concurrentStartsAllEndUpRecorded() async throws {
        var toml = ""
        for i in 0..<10 { toml += "[[guest]]\nname = \"g\(i)\"\naddress = \"192.168.122.\(20 + i)\"\nforwards = [\"\(9000 + i):80\"]\n" }
        let h = try hook(toml)
        await withTaskGroup(of: Int32.self) { group in
            for i in 0..<10 {
                let data = xml("g\(i)", uuid: String(format: "0a0b0c0d-0000-4000-8000-%012d", i))
                group.addTask { h.handle(guest: "g\(i)", operation: "start", subOperation: "begin", xml: data) }
            }
            for await status in group { #expect(status == 0) }
        }
        #expect(records.count == 10)
        #expect(backend.applied.count == 10)
        // Whichever apply ran last saw every guest: the lock serialised update, plan and apply.
        #expect(backend.applied.map(\.entries.count).max() == 10)
    }
}

@Suite struct NetworkHookTests {
    @Test func startedReappliesRunningGuestsOtherOperationsDoNothing() throws {
        let state = TempDir()
        let backend = RecordingBackend()
        let log = RecordingLog()
        let store = StateStore(directory: state.path)
        let reconciler = Reconciler(config: try Config.parse("[[guest]]\nname = \"web1\"\nforwards = [\"80\"]\n"), store: store, backend: backend)
        let hook = NetworkHook(reconciler: reconciler, log: log)
        #expect(hook.handle(network: "default", operation: "started") == 0)
        #expect(backend.applied.isEmpty, "nothing running: the kernel is left alone")
        try store.save(RunningGuest(uuid: try DomainUUID(QemuHookTests.web1), name: try GuestName("web1"), address4: IPAddress("192.168.122.10")))
        for op in ["start", "stopped", "port-created", "updated"] { #expect(hook.handle(network: "default", operation: op) == 0) }
        #expect(backend.applied.isEmpty)
        #expect(hook.handle(network: "default", operation: "started") == 0)
        #expect(backend.applied.count == 1)
        backend.failApply = "boom"
        #expect(hook.handle(network: "default", operation: "started") == 0)
        #expect(log.errors == ["network default started: boom"])
    }
}

@Suite struct HookShimTests {
    @Test func installIsIdempotentAndLeavesTheQemuScriptAlone() throws {
        let dir = TempDir()
        dir.write("qemu", "#!/bin/sh\n# the admin's own hook\n")
        let shims = HookShims(hooksDirectory: dir.path)
        let first = try shims.install(binary: "/usr/local/sbin/libvirt-portfwd", extraArguments: ["--config", "/etc/x y.toml"])
        #expect(first == ["\(dir.path)/qemu.d/libvirt-portfwd", "\(dir.path)/network.d/libvirt-portfwd"])
        #expect(try shims.install(binary: "/usr/local/sbin/libvirt-portfwd", extraArguments: ["--config", "/etc/x y.toml"]).isEmpty)
        let text = try String(contentsOfFile: "\(dir.path)/qemu.d/libvirt-portfwd", encoding: .utf8)
        #expect(text.contains("exec /usr/local/sbin/libvirt-portfwd hook qemu --config '/etc/x y.toml' -- \"$@\""))
        let mode = try FileManager.default.attributesOfItem(atPath: "\(dir.path)/qemu.d/libvirt-portfwd")[.posixPermissions] as? Int
        #expect(mode == 0o755)
        #expect(try String(contentsOfFile: "\(dir.path)/qemu", encoding: .utf8) == "#!/bin/sh\n# the admin's own hook\n")
        #expect(try shims.uninstall().count == 2)
        #expect(try shims.uninstall().isEmpty)
        #expect(FileManager.default.fileExists(atPath: "\(dir.path)/qemu"))
    }

    @Test func foreignFilesAreNeverReplacedOrRemoved() throws {
        let dir = TempDir()
        dir.write("qemu.d/libvirt-portfwd", "#!/bin/sh\necho mine\n")
        let shims = HookShims(hooksDirectory: dir.path)
        #expect(throws: StateError.self) { try shims.install(binary: "/x", extraArguments: []) }
        #expect(throws: StateError.self) { try shims.uninstall() }
        #expect(try String(contentsOfFile: "\(dir.path)/qemu.d/libvirt-portfwd", encoding: .utf8) == "#!/bin/sh\necho mine\n")
    }
}
