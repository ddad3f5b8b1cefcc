import Foundation
import Testing
@testable import PortFwd
import PortFwdCore

/// Every hook operation against the in-memory firewall: what is recorded, what the kernel
/// would hold, what the exit status is, and what is logged.
@Suite struct QemuHookTests {
    let host = FakeHost()

    func xml(_ name: String = "web1", uuid: String = Fixtures.web1UUID, mac: String = "52:54:00:00:00:10", metadata: String = "") -> Data {
        Fixtures.domain(name: name, uuid: uuid, metadata: metadata, interfaces: Fixtures.interface(mac: mac))
    }

    /// The DNAT elements installed now, IPv4.
    var dnat: [String] { host.nft.elements("dnat4_any") }

    @discardableResult
    func handle(_ hook: QemuHook, _ operation: String, _ data: Data? = nil, guest: String = "web1") -> Int32 {
        hook.handle(guest: guest, operation: .named(operation), input: .init(bytes: [UInt8](data ?? xml(guest))))
    }

    @Test func guestWithoutForwardsTouchesNothing() throws {
        let h = try host.hook("")
        for op in ["prepare", "start", "started", "stopped", "release", "reconnect"] { #expect(handle(h, op) == 0) }
        #expect(host.nft.calls.isEmpty && host.iptables.calls.isEmpty)
        #expect(!FileManager.default.fileExists(atPath: "\(host.state.path)/run/lock"), "the no-op path must not even take the lock")
    }

    @Test func prepareChecksWithoutInstallingOrRecording() throws {
        let h = try host.hook(Fixtures.web1Discovered)
        #expect(handle(h, "prepare") == 0)
        #expect(host.nft.calls.isEmpty)
        #expect(host.records.isEmpty)
    }

    @Test func startRecordsTheGuestAndInstallsItsForward() throws {
        let h = try host.hook(Fixtures.web1Discovered)
        #expect(handle(h, "start") == 0)
        #expect(host.records.map(\.uuid.value) == [Fixtures.web1UUID])
        #expect(host.records.first?.addressSource == .dhcpHost)
        #expect(dnat == ["tcp . 8080 : 192.168.122.10 . 80"])
        let line = try #require(host.log.infos.first)
        #expect(line.hasPrefix("guest web1 start: 1 forwards, ") && line.hasSuffix(" ms"), "\(line)")
    }

    /// A kernel that refuses the rules is no reason for a guest to stay down: the start goes
    /// on, nothing changed, and the error says so (the service adopts the guest later).
    @Test func startFailureStartsTheGuestAndLeavesRecordsAndRulesAsTheyWere() throws {
        let h = try host.hook(Fixtures.web1Discovered)
        host.nft.failMutation = host.nft.mutationCount
        let before = host.dump
        #expect(handle(h, "start") == 0)
        #expect(host.records.isEmpty)
        #expect(host.dump == before)
        #expect(host.log.errors == ["guest web1 start: replace table inet libvirt_portfwd: Error: injected failure of change 0; nothing changed; the "
            + "guest starts without its forwards"])
    }

    @Test func conflictWithARunningGuestFailsPrepareNamingBoth() throws {
        let h = try host.hook("""
            [[guest]]
            name = "web1"
            forwards = ["8080:80"]
            [[guest]]
            name = "web2"
            address = "192.168.122.11"
            forwards = ["8080:8080"]
            """)
        #expect(handle(h, "start") == 0)
        let calls = host.nft.calls.count
        #expect(handle(h, "prepare", xml("web2", uuid: Fixtures.web2UUID, mac: "52:54:00:00:00:11"), guest: "web2") == 1)
        #expect(host.log.errors == ["cannot start guest web2: conflict: tcp port 8080 on every address: guests web1 and web2 both claim it "
            + "(8080:80/tcp and 8080:8080/tcp)"])
        #expect(host.nft.calls.count == calls, "prepare changes nothing")
    }

    @Test func stoppedRemovesTheForwardThenReleaseIsANoOp() throws {
        let h = try host.hook(Fixtures.web1Discovered)
        #expect(handle(h, "start") == 0)
        #expect(handle(h, "stopped") == 0)
        #expect(host.records.isEmpty)
        #expect(dnat.isEmpty)
        let calls = host.nft.calls.count
        #expect(handle(h, "release") == 0)
        #expect(host.nft.calls.count == calls)
    }

    /// Stopping always removes the guest's forwards, even when the plan without it cannot be
    /// installed: then every rule of ours goes, loudly (hardening, class 5).
    @Test func stoppedNeverFailsAndNeverLeavesTheForward() throws {
        let h = try host.hook(Fixtures.web1Discovered)
        #expect(handle(h, "start") == 0)
        host.nft.failMutation = host.nft.mutationCount
        #expect(handle(h, "stopped") == 0)
        #expect(host.records.isEmpty)
        #expect(host.nft.table == nil, "\(host.nft.dump)")
        #expect(host.log.errors.contains { $0.hasPrefix("guest web1 stopped: cannot re-plan without guest \(Fixtures.web1UUID): ") })
    }

    @Test func reconnectReRecordsAndReappliesAndNeverFails() throws {
        let h = try host.hook(Fixtures.web1Discovered)
        #expect(handle(h, "reconnect") == 0)
        #expect(host.records.count == 1)
        #expect(dnat == ["tcp . 8080 : 192.168.122.10 . 80"])
        // A failing kernel and a garbled XML: the hook still exits 0, the record and the
        // forward stay, and each failure is one error line naming the guest.
        host.nft.failMutation = host.nft.mutationCount
        #expect(handle(h, "reconnect") == 0)
        #expect(handle(h, "attach") == 0)
        #expect(handle(h, "reconnect", Data("garbage".utf8)) == 0)
        #expect(host.records.count == 1 && host.records.first?.name.value == "web1")
        #expect(dnat == ["tcp . 8080 : 192.168.122.10 . 80"])
        #expect(host.log.errors.count == 2, "\(host.log.errors)")
        #expect(host.log.errors.allSatisfy { $0.contains("web1") }, "\(host.log.errors)")
    }

    @Test func reconnectWithUndiscoverableAddressKeepsTheRecordedOne() throws {
        let h = try host.hook(Fixtures.web1Discovered)
        #expect(handle(h, "start") == 0)
        // The DHCP host entry is gone now, but the guest is still running with its address.
        host.tree.write("etc/libvirt/qemu/networks/default.xml", "<network><name>default</name><forward mode='nat'/><bridge "
            + "name='virbr0'/></network>")
        #expect(handle(h, "reconnect") == 0)
        #expect(host.records.first?.address4?.description == "192.168.122.10")
        #expect(dnat == ["tcp . 8080 : 192.168.122.10 . 80"])
    }

    @Test func migrateRestoreStartedAndUnknownOperationsDoNothing() throws {
        let h = try host.hook(Fixtures.web1Discovered)
        for op in ["migrate", "restore", "started", "some-future-op"] { #expect(handle(h, op) == 0) }
        #expect(host.nft.calls.isEmpty && host.records.isEmpty && host.log.errors.isEmpty)
    }

    @Test func metadataForwardsMergeWithConfigForwards() throws {
        let h = try host.hook(Fixtures.web1Discovered)
        #expect(handle(h, "start", xml(metadata: Fixtures.metadata("<forward spec='9090:90' source='203.0.113.0/24'/>"))) == 0)
        #expect(dnat == ["tcp . 8080 : 192.168.122.10 . 80", "tcp . 9090 : 192.168.122.10 . 90"])
        #expect(host.nft.elements("allow4_any") == ["203.0.113.0/24 . tcp . 9090"])
    }

    /// A guest owner's metadata names the guest's address: it counts once the host has seen the
    /// guest use it, at its own MAC on its own network. Until then its forwards wait, saying so.
    @Test func metadataAloneDeclaresForwardsAndAnAddressTheGuestCanHold() throws {
        let h = try host.hook("")
        let meta = Fixtures.virshMetadata.replacingOccurrences(of: "192.168.122.10", with: "192.168.122.77")
        #expect(handle(h, "start", xml(metadata: meta)) == 0)
        #expect(host.records.first?.addressSource == .explicit)
        #expect(dnat.isEmpty)
        let reason = try host.reconciler("").plan().pending.first?.reason.description ?? ""
        #expect(reason == "guest web1: its metadata address 192.168.122.77 is not yet seen in use at its MAC (52:54:00:00:00:10) on virbr0; "
            + "forwards to it wait until the host has seen it there and the guest answers for it", "\(reason)")
        host.neighbourTable.see("192.168.122.77", at: "52:54:00:00:00:10")
        #expect(handle(h, "reconnect", xml(metadata: meta)) == 0)
        #expect(dnat == ["tcp . 8080 : 192.168.122.77 . 80"])
    }

    @Test func metadataOffIgnoresMetadata() throws {
        let h = try host.hook(Fixtures.settings("metadata = false"))
        #expect(handle(h, "start", xml(metadata: Fixtures.virshMetadata)) == 0)
        #expect(host.nft.calls.isEmpty)
    }

    /// Metadata may open only what the admin allowed (hardening, class 1): ports, caps, and an
    /// address the guest can hold. What it asks beyond that is left out, said in a warning, and
    /// the guest starts: a guest owner's metadata never keeps the guest down.
    @Test(arguments: [
        (Fixtures.settings("metadata-host-ports = [\"8000-8999\"]"), "<forward spec='22'/>",
         "guest web1: metadata forward 22:22/tcp uses host ports outside settings.metadata-host-ports (8000-8999); forwards in the config file may "
             + "use any port; its metadata forwards are not installed"),
        ("", "<forward spec='2222:22'/><address>192.168.122.1</address>",
         "guest web1: metadata address 192.168.122.1 is the network's own (gateway) address"),
        ("", "<forward spec='2222:22'/><address>169.254.169.254</address>",
         "guest web1: its metadata is refused, so its metadata forwards are not installed: metadata <address> #2: 169.254.169.254 is a "
             + "link-local address"),
        ("", "<forward spec='2222:22'/><address>10.1.2.3</address>",
         "guest web1: metadata address 10.1.2.3 is not in the subnet of a libvirt network the guest is attached to (192.168.122.0/24); "
             + "settings.metadata-address = \"any\" lifts this"),
        ("", "<forward spec='1024-65535'/>",
         "guest web1: metadata forwards cover 64512 host ports, more than settings.metadata-max-ports (1024); its metadata forwards are not "
             + "installed"),
        (Fixtures.settings("metadata-max-forwards = 1"), "<forward spec='2222:22'/><forward spec='2223:23'/>",
         "guest web1: metadata declares 2 forwards, more than settings.metadata-max-forwards (1); its metadata forwards are not installed"),
    ] as [(String, String, String)])
    func metadataBeyondThePolicyIsLeftOutAndTheGuestStarts(config: String, metadata: String, message: String) throws {
        for op in ["prepare", "start"] {
            let host = FakeHost()
            let h = try host.hook(config)
            #expect(handle(h, op, xml(metadata: Fixtures.metadata(metadata))) == 0, "\(op)")
            #expect(host.log.warnings.contains("guest web1 \(op): \(message)"), "\(op): \(host.log.warnings)")
            #expect(host.log.errors.isEmpty, "\(op): \(host.log.errors)")
            #expect(dnat.isEmpty, "\(op): nothing of the metadata is installed")
        }
    }

    /// The config gives web1 its address; web2's owner names it in web2's metadata. web2
    /// starts, and waits: the address is web1's, whatever the order.
    @Test func anotherGuestsAddressIsNeverMetadatas() throws {
        let h = try host.hook(Fixtures.web1)
        let meta = Fixtures.metadata("<forward spec='2222:22'/><address>192.168.122.10</address>")
        let web2 = xml("web2", uuid: Fixtures.web2UUID, mac: "52:54:00:00:00:11", metadata: meta)
        #expect(handle(h, "start", web2, guest: "web2") == 0)
        #expect(handle(h, "start") == 0)
        #expect(dnat == ["tcp . 8080 : 192.168.122.10 . 80"])
        let pending = try host.reconciler(Fixtures.web1).plan().pending
        #expect(pending.map(\.reason.description) == [
            "guest web2: its metadata address 192.168.122.10 is disputed with guest web1 (config); "
                + "forwards to it wait until the address is web2's alone",
        ])
    }

    @Test func configForwardsAreTheAdminsOwnAndNotLimited() throws {
        let h = try host.hook(Fixtures.settings("metadata-host-ports = [\"8000-8999\"]") + "[[guest]]\nname = \"web1\"\nforwards = [\"22\"]\n")
        #expect(handle(h, "prepare") == 0)
    }

    /// With the service running or not (at boot, libvirt autostarts guests before it): a
    /// guest without an address starts, pending its lease.
    @Test func aGuestWithoutAddressAlwaysStartsPending() throws {
        for service in [false, true] {
            let host = FakeHost()
            let lock = service ? try host.store.holdServiceLock() : -1
            defer { if lock >= 0 { close(lock) } }
            let h = try host.hook(Fixtures.web1Discovered)
            #expect(handle(h, "prepare", xml(mac: "52:54:00:00:00:99")) == 0)
            #expect(handle(h, "start", xml(mac: "52:54:00:00:00:99")) == 0)
            #expect(host.records.first?.addressSource == .pending)
            #expect(host.nft.table == nil || host.nft.elements("dnat4_any").isEmpty)
            #expect(host.log.infos.last?.contains("0 forwards, 1 pending: waits for a DHCP lease") == true, "\(host.log.infos)")
        }
    }

    @Test func corruptRecordIsSkippedAndLogged() throws {
        let h = try host.hook(Fixtures.web1Discovered)
        try FileManager.default.createDirectory(atPath: "\(host.state.path)/run", withIntermediateDirectories: true,
            attributes: [.posixPermissions: 0o700])
        try "{ not json".write(toFile: "\(host.state.path)/run/0a0b0c0d-0000-4000-8000-00000000dead.json", atomically: true, encoding: .utf8)
        #expect(handle(h, "start") == 0)
        #expect(dnat.count == 1)
        #expect(host.log.warnings.count == 1)
        #expect(host.log.warnings.first?.contains("skipping state record \(host.state.path)/run/0a0b0c0d-0000-4000-8000-00000000dead.json: not "
            + "a record") == true)
    }

    /// A running guest's record breaks (a crash mid-write, a hand edit): another guest's stop
    /// re-plans, and the broken record decides nothing. Its guest, which libvirt runs, is taken
    /// again from libvirt's status file and keeps its forwards; the record is written anew, and
    /// `status` counts the broken record as a problem until then.
    @Test func aBrokenRecordDecidesNothing() throws {
        let h = try host.hook(Fixtures.web1Discovered + "[[guest]]\nname = \"web2\"\naddress = \"192.168.122.11\"\nforwards = [\"8081:80\"]\n")
        let config = Fixtures.web1Discovered + "[[guest]]\nname = \"web2\"\naddress = \"192.168.122.11\"\nforwards = [\"8081:80\"]\n"
        #expect(handle(h, "start") == 0)
        #expect(handle(h, "start", xml("web2", uuid: Fixtures.web2UUID, mac: "52:54:00:00:00:11"), guest: "web2") == 0)
        host.tree.write("run/libvirt/qemu/web1.xml", "<domstatus state='running'>\(String(decoding: xml(), as: UTF8.self))</domstatus>")
        #expect(Set(dnat) == ["tcp . 8080 : 192.168.122.10 . 80", "tcp . 8081 : 192.168.122.11 . 80"])
        try "{ not json".write(toFile: "\(host.state.path)/run/\(Fixtures.web1UUID).json", atomically: true, encoding: .utf8)
        let status = try host.reconciler(config).status()
        #expect(!status.healthy && status.problems.contains { $0.contains("skipping state record \(host.state.path)/run/\(Fixtures.web1UUID).json") },
            "\(status.problems)")
        #expect(handle(h, "stopped", xml("web2", uuid: Fixtures.web2UUID, mac: "52:54:00:00:00:11"), guest: "web2") == 0)
        #expect(dnat == ["tcp . 8080 : 192.168.122.10 . 80"], "web1 keeps its forward: \(host.log.warnings) \(host.log.infos) \(host.log.errors)")
        #expect(host.records.map(\.name.value) == ["web1"], "its record is written anew")
        #expect(!(try host.reconciler(config).status().problems.contains { $0.contains("skipping state record") }))
    }

    @Test func tamperedRecordCannotInjectRuleTextOrNameABadAddress() throws {
        try FileManager.default.createDirectory(atPath: "\(host.state.path)/run", withIntermediateDirectories: true,
            attributes: [.posixPermissions: 0o700])
        for (address, reason) in [("192.168.122.10; flush ruleset", "address4 '192.168.122.10; flush ruleset' is not an IPv4 address"),
                                  ("127.0.0.1", "address4: 127.0.0.1 is a loopback address")] {
            try """
                {"version":2,"uuid":"\(Fixtures.web1UUID)","name":"web1","address4":"\(address)","metadataForwards":[]}
                """.write(toFile: "\(host.state.path)/run/\(Fixtures.web1UUID).json", atomically: true, encoding: .utf8)
            let loaded = host.store.load()
            #expect(loaded.guests.isEmpty)
            #expect(loaded.problems.first?.hasSuffix(reason) == true, "\(loaded.problems)")
        }
    }

    @Test func concurrentStartsAllEndUpRecorded() async throws {
        var toml = ""
        for i in 0..<10 { toml += "[[guest]]\nname = \"g\(i)\"\naddress = \"192.168.122.\(20 + i)\"\nforwards = [\"\(9000 + i):80\"]\n" }
        let h = try host.hook(toml)
        await withTaskGroup(of: Int32.self) { group in
            for i in 0..<10 {
                let data = xml("g\(i)", uuid: String(format: "0a0b0c0d-0000-4000-8000-%012d", i))
                group.addTask { h.handle(guest: "g\(i)", operation: .named("start"), input: .init(bytes: [UInt8](data))) }
            }
            for await status in group { #expect(status == 0) }
        }
        #expect(host.records.count == 10)
        // Whichever apply ran last saw every guest: the lock serialised update, plan and apply.
        #expect(dnat.count == 10)
    }
}

@Suite struct NetworkHookTests {
    @Test func startedReassertsWhenAnythingOfOursIsThere() throws {
        let host = FakeHost()
        host.nft.addLibvirtTables()
        let hook = NetworkHook(reconciler: try host.reconciler("[[guest]]\nname = \"web1\"\nforwards = [\"80\"]\n"), log: host.log)
        #expect(hook.handle(network: "default", operation: "started") == 0)
        #expect(host.nft.table == nil, "nothing of ours: the kernel is left alone")
        try host.store.save(RunningGuest(uuid: try DomainUUID(Fixtures.web1UUID), name: try GuestName("web1"), address4: IPAddress("192.168.122.10")))
        for op in ["start", "stopped", "port-created", "updated"] { #expect(hook.handle(network: "default", operation: op) == 0) }
        #expect(host.nft.table == nil)
        #expect(hook.handle(network: "default", operation: "started") == 0)
        #expect(host.nft.rules(.ipv4, "forward").first == LibvirtForwardChain.rule(.default).text)
        // Guests or not: a table of ours alone is reason enough to re-assert admission.
        try host.store.remove(try DomainUUID(Fixtures.web1UUID))
        host.nft.libvirt[.ipv4]!["forward"]!.removeFirst()
        #expect(hook.handle(network: "default", operation: "started") == 0)
        #expect(host.nft.rules(.ipv4, "forward").first == LibvirtForwardChain.rule(.default).text)
        host.nft.failMutation = host.nft.mutationCount
        host.nft.libvirt[.ipv4]!["forward"]!.removeFirst()
        #expect(hook.handle(network: "default", operation: "started") == 0)
        #expect(host.log.errors.count == 1)
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
        #expect(Set(try shims.uninstall()) == ["\(dir.path)/qemu.d/libvirt-portfwd", "\(dir.path)/network.d/libvirt-portfwd",
                                                "\(dir.path)/qemu.d", "\(dir.path)/network.d"])
        #expect(try shims.uninstall().isEmpty)
        #expect(FileManager.default.fileExists(atPath: "\(dir.path)/qemu"))
    }

    @Test func foreignFilesAndSymlinksAreNeverReplacedOrFollowed() throws {
        let dir = TempDir()
        dir.write("qemu.d/libvirt-portfwd", "#!/bin/sh\necho mine\n")
        let shims = HookShims(hooksDirectory: dir.path)
        #expect(throws: PortFwdError.self) { try shims.install(binary: "/x", extraArguments: []) }
        #expect(throws: PortFwdError.self) { try shims.uninstall() }
        #expect(try String(contentsOfFile: "\(dir.path)/qemu.d/libvirt-portfwd", encoding: .utf8) == "#!/bin/sh\necho mine\n")
        let target = TempDir()
        target.write("victim", "precious\n")
        try FileManager.default.createDirectory(atPath: "\(dir.path)/network.d", withIntermediateDirectories: true)
        try FileManager.default.removeItem(atPath: "\(dir.path)/qemu.d/libvirt-portfwd")
        try FileManager.default.createSymbolicLink(atPath: "\(dir.path)/network.d/libvirt-portfwd", withDestinationPath: "\(target.path)/victim")
        #expect(throws: PortFwdError.self) { try shims.install(binary: "/x", extraArguments: []) }
        #expect(try String(contentsOfFile: "\(target.path)/victim", encoding: .utf8) == "precious\n")
    }

    /// The shims themselves keep stop and reconnect from failing, whatever the tool does.
    @Test func neverFailOperationsExitZeroEvenWhenTheToolDies() throws {
        let dir = TempDir()
        dir.write("die", "#!/bin/sh\nkill -9 $$\n")
        chmod("\(dir.path)/die", 0o755)
        _ = try HookShims(hooksDirectory: dir.path).install(binary: "\(dir.path)/die", extraArguments: [])
        for (op, status) in [("stopped", 0), ("release", 0), ("reconnect", 0), ("attach", 0), ("prepare", 137), ("start", 137)] {
            let r = Shell.capture("\(dir.path)/qemu.d/libvirt-portfwd web1 \(op) begin - </dev/null")
            #expect(r.status == Int32(status), "\(op)")
            #expect(r.stdout.isEmpty)
        }
        #expect(Shell.capture("\(dir.path)/network.d/libvirt-portfwd default started begin -").status == 0)
    }
}
