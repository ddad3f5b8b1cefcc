import Foundation
import Testing
import PortFwd
@testable import PortFwdCore
import PortFwdSystem

/// A guest owner stays inside their guest (issue 16): each class of hole, as a unit against
/// the in-memory firewall. The real-libvirtd proofs are in RootContainmentTests.
@Suite struct ContainmentTests {
    let host = FakeHost()

    var dnat: [String] { host.nft.elements("dnat4_any") }

    func xml(_ name: String = "web1", uuid: String = Fixtures.web1UUID, mac: String = "52:54:00:00:00:10", metadata: String = "") -> [UInt8] {
        [UInt8](Fixtures.domain(name: name, uuid: uuid, metadata: metadata, interfaces: Fixtures.interface(mac: mac)))
    }

    @discardableResult
    func handle(_ hook: QemuHook, _ op: String, _ bytes: [UInt8], guest: String = "web1", complete: Bool = true) -> Int32 {
        hook.handle(guest: guest, operation: .named(op), input: .init(bytes: bytes, complete: complete))
    }

    // MARK: 1. stopping always forgets

    /// Whatever the guest's owner did to the live XML after the start, stopping takes only the
    /// UUID from it and forgets the guest: the record and the forwards go.
    @Test(arguments: [
        ("invalid metadata in our namespace", Fixtures.metadata("<forward spec='nope'/>"), true),
        ("a DOCTYPE declaration", "", true),
        ("<!DOCTYPE and <!ENTITY in a comment and a CDATA section",
         "<!-- <!DOCTYPE x [<!ENTITY y 'z'>]> --><o:x xmlns:o='urn:o'><![CDATA[<!ENTITY a 'b'>]]></o:x>", true),
        ("nesting past libxml2's depth limit", "<o:x xmlns:o='urn:o'>" + String(repeating: "<a>", count: 300) + String(repeating: "</a>", count: 300)
            + "</o:x>", true),
        ("an XML over the size limit, cut short", "", false),
        ("garbage after the identity", "", true),
    ] as [(String, String, Bool)])
    func stoppingForgetsWhateverTheXMLHolds(trigger: String, metadata: String, complete: Bool) throws {
        let h = try host.hook(Fixtures.web1Discovered)
        #expect(handle(h, "start", xml()) == 0)
        #expect(dnat == ["tcp . 8080 : 192.168.122.10 . 80"])
        var stopped = xml(metadata: metadata)
        if trigger == "a DOCTYPE declaration" { stopped = Array("<!DOCTYPE domain>\n".utf8) + stopped }
        if trigger == "garbage after the identity" { stopped = Array(stopped.prefix(120)) + Array("<<<&&&".utf8) }
        if !complete { stopped = Array(stopped.prefix(200)) }
        #expect(handle(h, "stopped", stopped, complete: complete) == 0, "\(trigger)")
        #expect(host.records.isEmpty, "\(trigger)")
        #expect(dnat.isEmpty, "\(trigger)")
    }

    /// No UUID to be found at all: the records that carry the stopping guest's exact name go.
    @Test func withNoUUIDTheExactNameFindsTheRecord() throws {
        let h = try host.hook(Fixtures.web1Discovered + "[[guest]]\nname = \"web1 \"\naddress = \"192.168.122.11\"\nforwards = [\"9090:90\"]\n")
        #expect(handle(h, "start", xml()) == 0)
        #expect(handle(h, "start", xml("web1 ", uuid: Fixtures.web2UUID, mac: "52:54:00:00:00:11"), guest: "web1 ") == 0)
        #expect(dnat.count == 2)
        #expect(handle(h, "stopped", Array("not xml at all".utf8), guest: "web1") == 0)
        #expect(host.records.map(\.name.value) == ["web1 "])
        #expect(dnat == ["tcp . 9090 : 192.168.122.11 . 90"])
    }

    // MARK: 2. an address belongs to one guest

    /// The owner of the guest that started first names the younger guest's address in its
    /// live metadata: the younger guest holds it and keeps it, and the reason names the holder.
    @Test func anOlderGuestCannotTakeAYoungerGuestsAddress() throws {
        let config = "[settings]\nmetadata-host-ports = [\"1024-65535\"]\n"
        let meta = { (port: Int, address: String) in Fixtures.metadata("<forward spec='\(port):80'/><address>\(address)</address>") }
        host.neighbourTable.see("192.168.122.60", at: "52:54:00:00:00:30")
        host.neighbourTable.see("192.168.122.61", at: "52:54:00:00:00:31")
        let h = try host.hook(config)
        #expect(handle(h, "start", xml("old", uuid: Fixtures.web2UUID, mac: "52:54:00:00:00:30", metadata: meta(9001, "192.168.122.60")),
            guest: "old") == 0)
        #expect(handle(h, "start", xml("young", mac: "52:54:00:00:00:31", metadata: meta(9002, "192.168.122.61")), guest: "young") == 0)
        #expect(Set(dnat) == ["tcp . 9001 : 192.168.122.60 . 80", "tcp . 9002 : 192.168.122.61 . 80"])
        // `virsh metadata --live` on the old guest, then the libvirtd restart (or the service)
        // re-reads it; and the old guest's frames on the bridge claim .61 too.
        host.neighbourTable.see("192.168.122.61", at: "52:54:00:00:00:30")
        #expect(handle(h, "reconnect", xml("old", uuid: Fixtures.web2UUID, mac: "52:54:00:00:00:30", metadata: meta(9001, "192.168.122.61")),
            guest: "old") == 0)
        #expect(dnat == ["tcp . 9002 : 192.168.122.61 . 80"], "the holder keeps it")
        let pending = try host.reconciler(config).plan().pending
        #expect(pending.map(\.guest.name.value) == ["old"])
        #expect(pending.first?.reason.description.contains("is held by guest young (metadata), which had it first") == true, "\(pending)")
    }

    /// A pending guest's DHCP client asks for the address the config gives another guest:
    /// the lease is the guest's word against the admin's, and the admin's wins.
    @Test func aLeaseNeverTakesAnAddressTheConfigGivesAnother() throws {
        let config = """
            [[guest]]
            name = "victim"
            address = "192.168.122.50"
            forwards = ["8080:80"]
            [[guest]]
            name = "thief"
            forwards = ["9090:80"]
            """
        let h = try host.hook(config)
        #expect(handle(h, "start", xml("victim", uuid: Fixtures.web2UUID, mac: "52:54:00:00:00:50"), guest: "victim") == 0)
        #expect(handle(h, "start", xml("thief", mac: "52:54:00:00:00:20"), guest: "thief") == 0)
        for (name, uuid, mac) in [("victim", Fixtures.web2UUID, "52:54:00:00:00:50"), ("thief", Fixtures.web1UUID, "52:54:00:00:00:20")] {
            host.tree.write("run/libvirt/qemu/\(name).xml", String(decoding: Fixtures.domain(name: name, uuid: uuid,
                interfaces: Fixtures.interface(mac: mac)), as: UTF8.self))
        }
        host.tree.write("var/lib/libvirt/dnsmasq/virbr0.status",
                        #"[{"ip-address":"192.168.122.50","mac-address":"52:54:00:00:00:20","expiry-time":0}]"#)
        let outcome = try host.reconciler(config).reconcile(.sync)
        #expect(dnat == ["tcp . 8080 : 192.168.122.50 . 80"])
        #expect(outcome.pending.map(\.reason.description) == [
            "guest thief: its lease address 192.168.122.50 is disputed with guest victim (config); "
                + "forwards to it wait until the address is thief's alone",
        ])
    }

    /// Leases pass the policy metadata addresses pass, and are read strictly.
    @Test func leasesAreHeldToTheAddressRules() throws {
        let now = Date(timeIntervalSince1970: 1_800_000_000)
        let mac = "52:54:00:00:00:20"
        for (lease, reason) in [
            ("192.168.122.1", "is the network's own (gateway) address"),
            ("192.168.122.0", "is the network address of 192.168.122.0/24"),
            ("192.168.122.255", "is the broadcast address of 192.168.122.0/24"),
            ("10.1.2.3", "is not in the subnet of a libvirt network"),
        ] {
            host.tree.write("var/lib/libvirt/dnsmasq/virbr0.status", #"[{"ip-address":"\#(lease)","mac-address":"\#(mac)","expiry-time":0}]"#)
            let found = host.libvirt.surroundings(now: now).leases.leases(bridge: "virbr0", mac: MAC(mac)!)
            #expect(found.map(\.address.description) == [lease])
            let guest = RunningGuest(uuid: try DomainUUID(Fixtures.web1UUID), name: try GuestName("g"),
                interfaces: [.init(mac: MAC(mac)!, network: "default", bridge: "virbr0")],
                                     address4: IPAddress(lease), addressSource: .lease,
                                     metadata: .init(forwards: [Forward(spec: try PortSpec.parse("8080:80"), origin: .metadata)]))
            let result = Resolver.resolve(config: Config(), running: [guest], all: false, surroundings: host.libvirt.surroundings(now: now))
            #expect(result.guests.isEmpty, "\(lease)")
            #expect(result.pending.first?.reason.description.contains(reason) == true, "\(lease): \(result.pending)")
        }
        // A NUL or anything after the address: not an address at all.
        host.tree.write("var/lib/libvirt/dnsmasq/virbr0.status", #"""
            [{"ip-address":"192.168.122.51\u0000x","mac-address":"52:54:00:00:00:20","expiry-time":0},
             {"ip-address":"192.168.122.52 ","mac-address":"52:54:00:00:00:20","expiry-time":0},
             {"ip-address":"192.168.122.53","mac-address":"52:54:00:00:00:20\u0000","expiry-time":0}]
            """#)
        #expect(host.libvirt.surroundings(now: now).leases.byAddress.isEmpty)
        // Two current leases for one MAC: the newest expiry wins, a lease that never expires first.
        host.tree.write("var/lib/libvirt/dnsmasq/virbr0.status", #"""
            [{"ip-address":"192.168.122.61","mac-address":"52:54:00:00:00:20","expiry-time":1800000100},
             {"ip-address":"192.168.122.62","mac-address":"52:54:00:00:00:20","expiry-time":1800000200},
             {"ip-address":"192.168.122.60","mac-address":"52:54:00:00:00:20","expiry-time":1700000000}]
            """#)
        #expect(host.libvirt.leases(bridge: "virbr0", mac: MAC(mac)!, now: now).map(\.description) == ["192.168.122.62", "192.168.122.61"])
    }

    @Test func addressesNeverHideANULOrTrailingBytes() {
        for text in ["192.168.122.5\u{0}", "192.168.122.5\u{0}evil", "\u{0}192.168.122.5", "fd00::1\u{0}x", "192.168.122.5 ", "192.168.122.5/32"] {
            #expect(IPAddress(text) == nil, "\(text.debugDescription)")
        }
    }

    // MARK: 3. names match exactly

    /// `victim ` is another domain than `victim`, and so are names that only look the same.
    @Test func configEntriesMatchNamesByteForByte() throws {
        let config = try Config.parse("[[guest]]\nname = \"victim\"\naddress = \"192.168.122.10\"\nforwards = [\"8080:80\"]\n[[guest]]\nname = "
            + "\"caf\u{e9}\"\naddress = \"192.168.122.11\"\nforwards = [\"8081:80\"]\n")
        for name in ["victim ", " victim", "Victim", "cafe\u{301}"] {
            let domain = try Domain.parse(Data(xml(name).map { $0 }))
            #expect(domain.name.value == name, "the name is read exactly: \(name.debugDescription)")
            #expect(config.guest(named: domain.name, uuid: domain.uuid) == nil, "\(name.debugDescription)")
        }
        #expect(config.guest(named: try GuestName("victim"), uuid: nil)?.address4?.description == "192.168.122.10")
        #expect(try GuestName("cafe\u{301}") != GuestName("caf\u{e9}"))
        #expect(Set([try GuestName("cafe\u{301}"), try GuestName("caf\u{e9}")]).count == 2)
    }

    // MARK: 6. log lines are printable text

    /// Whatever a name, metadata or argv holds, a log line is one line of printable text:
    /// random strings of controls, C1 codes, CR LF pairs, separators and bidi overrides.
    @Test func logLinesHoldPrintableTextOnly() {
        var rng = SplitMix.printed("ContainmentTests.logLinesHoldPrintableTextOnly")
        let hostile: [Unicode.Scalar] = ["\r", "\n", "\u{85}", "\u{1B}", "\u{7F}", "\u{9B}", "\u{2028}", "\u{2029}", "\u{202E}", "\u{0}", "\t",
            "\u{FEFF}", "a", "é", " ", "\u{E000}"]
        for _ in 0..<2000 {
            var s = String.UnicodeScalarView()
            for _ in 0..<Int.random(in: 0...40, using: &rng) { s.append(hostile.randomElement(using: &rng)!) }
            let text = String(s)
            for line in [LogText.line(text), LogText.line("guest \(text) start: " + text), LogText.line(PortFwdError(.invalidInput, text).oneLine)] {
                for scalar in line.unicodeScalars {
                    #expect(LogText.isPrintable(scalar), "\(text.debugDescription) gave \(line.debugDescription)")
                }
            }
        }
        #expect(LogText.line("a\r\nb") == "a\\r; b")
        #expect(LogText.line("x\u{1B}[31m") == "x\\u{1B}[31m")
    }

    // MARK: 7. a few lines per event

    /// One event logs a few lines, whatever the metadata holds: here 100,003 forwards.
    @Test func oneEventLogsAFewLinesAtMost() throws {
        let forwards = (0..<100_003).map { "<forward spec='\($0 % 1000 + 1)'/>" }.joined()
        let h = try host.hook(Fixtures.web1Discovered)
        #expect(handle(h, "start", xml(metadata: Fixtures.metadata(forwards))) == 0)
        #expect(host.log.warnings.count + host.log.errors.count <= 6, "\(host.log.warnings.count) warnings, \(host.log.errors.count) errors")
        #expect(host.log.warnings.allSatisfy { $0.utf8.count <= LogText.maximumLength + 100 })
        #expect(dnat == ["tcp . 8080 : 192.168.122.10 . 80"], "the config's forward is installed; the metadata's are not")
    }

    // MARK: 8. nothing in the state directory blocks

    /// A FIFO (or socket, or directory) planted at any name the store opens: every operation
    /// finishes, and refuses it with a line. Run on a thread with a deadline, so a hang fails
    /// the test instead of the suite.
    @Test func nonRegularFilesInTheStateDirectoryNeverBlock() throws {
        let names = ["\(Fixtures.web1UUID).json", "mode", "backend", "config.last", "lock", "watch.lock"]
        for name in names {
            let state = TempDir()
            let store = StateStore(directory: "\(state.path)/run")
            try store.save(RunningGuest(uuid: try DomainUUID(Fixtures.web2UUID), name: try GuestName("other"), address4: IPAddress("192.168.122.11")))
            try? FileManager.default.removeItem(atPath: "\(state.path)/run/\(name)")
            #expect(mkfifo("\(state.path)/run/\(name)", 0o600) == 0)
            let finished = DispatchSemaphore(value: 0)
            let result = Box<String>()
            Thread.detachNewThread {
                var lines = store.load().problems
                _ = store.snapshot([try! DomainUUID(Fixtures.web1UUID)])
                _ = store.mode
                _ = store.lastConfig
                _ = store.serviceRunning
                do { try store.withLock { } } catch { lines.append("\(error)") }
                result.value = lines.joined(separator: "\n")
                finished.signal()
            }
            #expect(finished.wait(timeout: .now() + 20) == .success, "\(name): an operation blocked")
            if ["\(Fixtures.web1UUID).json", "lock"].contains(name) {
                #expect(result.value?.contains("\(state.path)/run/\(name) is not a regular file (a FIFO)") == true, "\(name): \(result.value ?? "")")
            }
        }
    }

    // MARK: 9. the package removes only what it made

    @Test func uninstallRemovesOnlyTheDirectoriesInstallMade() throws {
        let dir = TempDir()
        // The admin's own, empty, made before install.
        try FileManager.default.createDirectory(atPath: "\(dir.path)/hooks/qemu.d", withIntermediateDirectories: true)
        let shims = HookShims(hooksDirectory: "\(dir.path)/hooks")
        _ = try shims.install(binary: "/usr/sbin/libvirt-portfwd", extraArguments: [])
        let removed = try shims.uninstall()
        #expect(removed.contains("\(dir.path)/hooks/network.d"))
        #expect(FileManager.default.fileExists(atPath: "\(dir.path)/hooks/qemu.d"), "the admin's directory stays")
        #expect(try FileManager.default.contentsOfDirectory(atPath: "\(dir.path)/hooks") == ["qemu.d"])
        // Made from nothing: all of it goes.
        let fresh = HookShims(hooksDirectory: "\(dir.path)/new/hooks")
        _ = try fresh.install(binary: "/x", extraArguments: [])
        _ = try fresh.uninstall()
        #expect(!FileManager.default.fileExists(atPath: "\(dir.path)/new/hooks"))
    }

    // MARK: 10. isolated networks stay isolated

    @Test func isolatedBridgesAreNeverForwarded() throws {
        host.tree.write("etc/libvirt/qemu/networks/isolated.xml", """
            <network><name>isolated</name><bridge name='virbr9'/><ip address='192.168.100.1' prefix='24'/></network>
            """)
        let outcome = try host.reconciler(Fixtures.web1).reconcile(.reapply)
        #expect(outcome.plan.isolated == ["virbr9"])
        #expect(host.nft.dump.contains("iifname \"virbr9\" return"))
        let pre = IptablesRenderer().rules(outcome.plan, family: .ipv4)[IptablesRenderer.pre] ?? []
        #expect(pre.first == "-i virbr9 -j RETURN")
        #expect(IptablesRenderer().rules(outcome.plan, family: .ipv4)[IptablesRenderer.out]?.contains { $0.contains("virbr9") } == false)
        // A bridge name that is no interface name never reaches rule text.
        let plan = try Plan(guests: [], settings: Settings(), isolated: ["virbr9\"; flush ruleset", "../x", "virbr1"])
        #expect(plan.isolated == ["virbr1"])
    }
}

/// A value a detached thread hands back.
final class Box<T>: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: T?
    var value: T? {
        get { lock.withLock { stored } }
        set { lock.withLock { stored = newValue } }
    }
}

/// What a guest owner tried next, and the rules that hold it (the attack round on this change).
@Suite struct ContainmentFollowUpTests {
    let host = FakeHost()
    var dnat: [String] { host.nft.elements("dnat4_any") }

    func xml(_ name: String, uuid: String, mac: String, metadata: String = "") -> [UInt8] {
        [UInt8](Fixtures.domain(name: name, uuid: uuid, metadata: metadata, interfaces: Fixtures.interface(mac: mac)))
    }

    /// Thousands of sources on one forward used to cost minutes in a pairwise cover, inside the
    /// state lock: now a metadata forward names at most 64, and the cover is one sort.
    @Test func sourceListsAreBoundedAndCheap() throws {
        let many = (0..<5000).map { "10.\($0 / 250).\($0 % 250).0/24" }
        let cover = Network.minimalCover(try many.map { try Network.parse($0) } + [try Network.parse("10.0.0.0/8")])
        #expect(cover.map(\.description) == ["10.0.0.0/8"])
        let metadata = Fixtures.metadata("<forward spec='9000:80' source='\(many.prefix(65).joined(separator: ","))'/>")
        let d = try Domain.parse(Data(xml("a", uuid: Fixtures.web1UUID, mac: "52:54:00:00:00:10", metadata: metadata)))
        #expect(d.metadataProblem == "metadata <forward> #1: 65 sources, more than 64; name a covering network instead")
        // The cover keeps what it should: nested blocks go, disjoint ones and other families stay.
        let mixed = try ["10.1.0.0/16", "10.1.2.0/24", "10.2.0.0/16", "10.1.2.3", "2001:db8::/32", "2001:db8:1::/48", "10.2.0.0/16"]
            .map { try Network.parse($0) }
        #expect(Network.minimalCover(mixed).map(\.description) == ["10.1.0.0/16", "10.2.0.0/16", "2001:db8::/32"])
    }

    /// A guest whose stop hook ran is not adopted again from a status file libvirt has not
    /// removed yet; a guest adopted from its status file is dropped as soon as the file goes.
    @Test func aStoppingGuestIsNotAdoptedBack() throws {
        let h = try host.hook(Fixtures.web1Discovered)
        let web1 = Fixtures.domain()
        #expect(h.handle(guest: "web1", operation: .named("start"), input: .init(bytes: [UInt8](web1))) == 0)
        host.tree.write("run/libvirt/qemu/web1.xml", "<domstatus state='running'>\(String(decoding: web1, as: UTF8.self))</domstatus>")
        #expect(h.handle(guest: "web1", operation: .named("stopped"), input: .init(bytes: [UInt8](web1))) == 0)
        let outcome = try host.reconciler(Fixtures.web1Discovered).reconcile(.sync)
        #expect(outcome.adopted.isEmpty)
        #expect(host.records.isEmpty && dnat.isEmpty)
        // Started again through the hook: no longer a guest that stopped.
        #expect(h.handle(guest: "web1", operation: .named("start"), input: .init(bytes: [UInt8](web1))) == 0)
        #expect(!host.store.recentlyStopped(now: Int64(Date().timeIntervalSince1970), window: 120).contains(try DomainUUID(Fixtures.web1UUID)))
    }

    /// A guest owner's live edit cannot take the port of another guest's running metadata
    /// forward: the forward that was there first keeps it.
    @Test func aLiveEditCannotTakeARunningGuestsPort() throws {
        host.neighbourTable.see("192.168.122.30", at: "52:54:00:00:00:30")
        host.neighbourTable.see("192.168.122.20", at: "52:54:00:00:00:20")
        let h = try host.hook("")
        let victim = Fixtures.metadata("<forward spec='9100:80'/><address>192.168.122.30</address>")
        #expect(h.handle(guest: "vic", operation: .named("start"), input: .init(bytes: xml("vic", uuid: Fixtures.web2UUID, mac: "52:54:00:00:00:30",
            metadata: victim))) == 0)
        let benign = Fixtures.metadata("<forward spec='9200:80'/><address>192.168.122.20</address>")
        #expect(h.handle(guest: "atk", operation: .named("start"), input: .init(bytes: xml("atk", uuid: Fixtures.web1UUID, mac: "52:54:00:00:00:20",
            metadata: benign))) == 0)
        // A moment later, the attacker's live edit claims 9100; libvirtd restarts (reconnect).
        let attack = Fixtures.metadata("<forward spec='9100:80'/><address>192.168.122.20</address>")
        let later = try host.reconciler("", now: Date().addingTimeInterval(60))
        let hook = QemuHook(reconciler: later, log: host.log)
        #expect(hook.handle(guest: "atk", operation: .named("reconnect"), input: .init(bytes: xml("atk", uuid: Fixtures.web1UUID,
            mac: "52:54:00:00:00:20", metadata: attack))) == 0)
        #expect(dnat == ["tcp . 9100 : 192.168.122.30 . 80"])
        #expect(host.log.warnings.contains { $0.contains("guest vic's forward was there first, so 9100:80/tcp of guest atk is left out") },
            "\(host.log.warnings)")
    }

    /// The config gives an address to its guest while that guest is shut off too.
    @Test func aConfiguredAddressIsReservedWhileItsGuestIsDown() throws {
        let config = "[[guest]]\nname = \"db\"\naddress = \"192.168.122.20\"\nforwards = [\"5432\"]\n"
        let h = try host.hook(config)
        let meta = Fixtures.metadata("<forward spec='9020:5432'/><address>192.168.122.20</address>")
        #expect(h.handle(guest: "atk", operation: .named("start"), input: .init(bytes: xml("atk", uuid: Fixtures.web1UUID, mac: "52:54:00:00:00:20",
            metadata: meta))) == 0)
        #expect(dnat.isEmpty)
        let pending = try host.reconciler(config).plan().pending
        #expect(pending.first?.reason.description.contains("disputed with the config's guest[0] (db)") == true, "\(pending)")
    }

    /// An address the host's neighbour table shows at another MAC, or another MAC's SLAAC
    /// address, is no guest owner's to name.
    @Test func addressesSeenAtAnotherMACAreRefusedToMetadata() throws {
        host.neighbourTable.see("192.168.122.77", at: "52:54:00:00:00:30")
        let h = try host.hook("")
        let meta = Fixtures.metadata("<forward spec='9001:80'/><address>192.168.122.77</address><address6>fd00:122::5054:ff:fe00:30</address6>")
        #expect(h.handle(guest: "atk", operation: .named("start"), input: .init(bytes: xml("atk", uuid: Fixtures.web1UUID, mac: "52:54:00:00:00:20",
            metadata: meta))) == 0)
        #expect(host.nft.table == nil || dnat.isEmpty)
        let reason = try host.reconciler("").plan().pending.first?.reason.description ?? ""
        #expect(reason.contains("52:54:00:00:00:30, which the host's ARP table has for it"), "\(reason)")
        #expect(reason.contains("the SLAAC address of 52:54:00:00:00:30"), "\(reason)")
        // Its own SLAAC address is the guest's to name.
        #expect(IPAddress("fd00:122::5054:ff:fe00:20")?.eui64MAC == MAC("52:54:00:00:00:20"))
    }

    /// Without the service, nothing moves a forward when its guest's lease changes: status says
    /// so for every guest that follows a lease.
    @Test func statusSaysWhenLeasesGoUnfollowed() throws {
        let config = "[[guest]]\nname = \"dyn\"\nforwards = [\"8081:80\"]\n"
        host.tree.write("var/lib/libvirt/dnsmasq/virbr0.status",
            #"[{"ip-address":"192.168.122.60","mac-address":"52:54:00:00:00:60","expiry-time":0}]"#)
        host.neighbourTable.see("192.168.122.60", at: "52:54:00:00:00:60")
        let h = try host.hook(config)
        #expect(h.handle(guest: "dyn", operation: .named("start"), input: .init(bytes: xml("dyn", uuid: Fixtures.web1UUID,
            mac: "52:54:00:00:00:60"))) == 0)
        #expect(dnat == ["tcp . 8081 : 192.168.122.60 . 80"])
        let line = "guest dyn follows a DHCP lease, but the libvirt-portfwd service is not running: nothing moves its forwards when the lease changes"
        #expect(try host.reconciler(config).status().problems.contains(line))
        let lock = try host.store.holdServiceLock()
        defer { close(lock) }
        #expect(!(try host.reconciler(config).status().problems.contains(line)))
    }

    /// A metadata forward never takes a port a host service listens on; a config forward that
    /// does is installed (the admin's word) and said.
    @Test func hostServicesAreNeverHiddenByMetadata() throws {
        // 0.0.0.0:9000 and 198.51.100.1:9001 listening (TCP), 127.0.0.1:9002 (loopback: never hidden).
        host.tree.write("proc/net/tcp", """
              sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
               0: 00000000:2328 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 111 1 0 100 0 0 10 0
               1: 016433C6:2329 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 112 1 0 100 0 0 10 0
               2: 0100007F:232A 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 113 1 0 100 0 0 10 0

            """)
        let config = "[[guest]]\nname = \"web1\"\nforwards = [\"9001:80\"]\n"
        let h = try host.hook(config)
        let meta = Fixtures.metadata("<forward spec='9000:80'/><forward spec='9002:80'/>")
        #expect(h.handle(guest: "web1", operation: .named("start"), input: .init(bytes: xml("web1", uuid: Fixtures.web1UUID, mac: "52:54:00:00:00:10",
            metadata: meta))) == 0)
        #expect(Set(dnat) == ["tcp . 9001 : 192.168.122.10 . 80", "tcp . 9002 : 192.168.122.10 . 80"])
        #expect(host.log.warnings.contains("guest web1 start: guest web1: metadata forward 9000:80/tcp would hide a host service listening on tcp "
            + "*:9000; left out"), "\(host.log.warnings)")
        #expect(host.log.warnings.contains("guest web1 start: guest web1: forward 9001:80/tcp hides a host service listening on tcp "
            + "198.51.100.1:9001"), "\(host.log.warnings)")
    }

    /// Host services by authority: a local user's socket (uid 65534) never keeps a port from a
    /// guest, and is named as a problem; a root service that starts listening on an installed
    /// forward's port never takes it; a configured guest's forward is checked against host
    /// services whether or not the guest runs.
    @Test func hostServicesCountByAuthority() throws {
        func sockets(_ lines: [(port: Int, uid: Int)]) {
            let rows = lines.enumerated().map { i, l in
                "   \(i): 00000000:\(String(format: "%04X", l.port)) 00000000:0000 0A 00000000:00000000 00:00000000 00000000 \(l.uid) 0 \(200 + i) 1 "
                    + "0 100 0 0 10 0"
            }
            host.tree.write("proc/net/tcp", "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
                + rows.joined(separator: "\n") + "\n")
        }
        sockets([(9002, 65534)])
        let config = "[[guest]]\nname = \"db\"\naddress = \"192.168.122.40\"\nforwards = [\"9000:5432\"]\n"
        let h = try host.hook(config)
        host.neighbourTable.see("192.168.122.10", at: "52:54:00:00:00:10")
        let meta = Fixtures.metadata("<forward spec='9002:80'/><forward spec='9003:80'/><address>192.168.122.10</address>")
        #expect(h.handle(guest: "web1", operation: .named("start"), input: .init(bytes: xml("web1", uuid: Fixtures.web1UUID, mac: "52:54:00:00:00:10",
            metadata: meta))) == 0)
        #expect(Set(dnat) == ["tcp . 9002 : 192.168.122.10 . 80", "tcp . 9003 : 192.168.122.10 . 80"], "a user's socket keeps nothing")
        let problems = try host.reconciler(config).status().problems
        #expect(problems.contains("guest web1: forward 9002:80/tcp takes the connections of a local user's socket listening on tcp *:9002 of "
            + "uid 65534; "
            + "a user's socket never keeps a port from a guest"), "\(problems)")
        // root starts listening on 9003 after the forward was installed: the forward stays.
        sockets([(9002, 65534), (9003, 0), (9000, 0)])
        #expect(h.handle(guest: "web1", operation: .named("reconnect"), input: .init(bytes: xml("web1", uuid: Fixtures.web1UUID,
            mac: "52:54:00:00:00:10", metadata: meta))) == 0)
        #expect(Set(dnat) == ["tcp . 9002 : 192.168.122.10 . 80", "tcp . 9003 : 192.168.122.10 . 80"],
            "a host service never takes an installed forward")
        #expect(host.log.warnings.contains { $0.contains("metadata forward 9003:80/tcp hides a host service that listens on tcp *:9003 since the "
            + "forward was installed; the forward stays") },
                "\(host.log.warnings)")
        // db does not run: its forward is checked all the same.
        let check = try host.reconciler(config).plan(all: true)
        #expect(check.warnings.contains { $0.message == "guest db: forward 9000:5432/tcp hides a host service listening on tcp *:9000" },
            "\(check.warnings)")
    }
}
