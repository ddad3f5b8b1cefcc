import Foundation
import Testing
import PortFwd
import PortFwdCore

/// One truth about which guests run: `apply` and the service make the records agree with the
/// status files libvirt keeps for running domains, and hooks never drop a guest mid-start.
@Suite struct ReconcilerSyncTests {
    let host = FakeHost()
    let now = Date(timeIntervalSince1970: 1_900_000_000)

    /// libvirt's status file of a running domain.
    func running(_ name: String = "web1", uuid: String = Fixtures.web1UUID, mac: String = "52:54:00:00:00:10", metadata: String = "") {
        let domain = String(decoding: Fixtures.domain(name: name, uuid: uuid, metadata: metadata, interfaces: Fixtures.interface(mac: mac)),
            as: UTF8.self)
        host.tree.write("run/libvirt/qemu/\(name).xml", "<domstatus state='running' reason='booted' pid='4242'>\n\(domain)\n</domstatus>\n")
    }

    var dnat: [String] { host.nft.elements("dnat4_any") }

    @Test func applyAdoptsARunningGuestThatHasForwardsButNoRecord() throws {
        running()
        let outcome = try host.reconciler(Fixtures.web1Discovered, now: now).reconcile(.sync)
        #expect(outcome.adopted.map(\.value) == ["web1"])
        #expect(host.records.first?.addressSource == .dhcpHost)
        #expect(dnat == ["tcp . 8080 : 192.168.122.10 . 80"])
    }

    @Test func applyDropsTheRecordOfAGuestThatDoesNotRun() throws {
        host.tree.write("run/libvirt/qemu/.keep", "")
        try host.store.save(RunningGuest(uuid: try DomainUUID(Fixtures.web1UUID), name: try GuestName("web1"), address4: IPAddress("192.168.122.10"),
                                         since: Int64(now.timeIntervalSince1970) - 3600))
        let outcome = try host.reconciler(Fixtures.web1Discovered, now: now).reconcile(.sync)
        #expect(outcome.dropped.map(\.value) == ["web1"])
        #expect(host.records.isEmpty)
        #expect(dnat.isEmpty)
    }

    /// A guest mid-start has a record (written by the start hook) before libvirt writes its
    /// status file: within the grace period the record stays.
    @Test func aRecordYoungerThanAStartIsKept() throws {
        host.tree.write("run/libvirt/qemu/.keep", "")
        try host.store.save(RunningGuest(uuid: try DomainUUID(Fixtures.web1UUID), name: try GuestName("web1"), address4: IPAddress("192.168.122.10"),
                                         since: Int64(now.timeIntervalSince1970) - 5))
        let outcome = try host.reconciler(Fixtures.web1Discovered, now: now).reconcile(.sync)
        #expect(outcome.dropped.isEmpty && host.records.count == 1)
    }

    /// Without libvirt's status directory nobody can tell what runs: nothing is dropped.
    @Test func withoutLibvirtsStatusDirectoryNothingIsDropped() throws {
        try host.store.save(RunningGuest(uuid: try DomainUUID(Fixtures.web1UUID), name: try GuestName("web1"), address4: IPAddress("192.168.122.10")))
        let outcome = try host.reconciler(Fixtures.web1Discovered, now: now).reconcile(.sync)
        #expect(outcome.dropped.isEmpty && host.records.count == 1)
    }

    /// libvirt saves a starting domain's status before its interface has its bridge: such an
    /// early file changes nothing of what the start hook recorded, and applies nothing (the
    /// service would otherwise follow every start with a second apply of its own).
    @Test func anEarlyStatusFileTakesNothingBack() throws {
        let domain = String(decoding: Fixtures.domain(interfaces: "<interface type='network'><mac address='52:54:00:00:00:10'/><source "
            + "network='default'/></interface>"), as: UTF8.self)
        host.tree.write("run/libvirt/qemu/web1.xml", "<domstatus state='running' reason='booted' pid='4242'>\n\(domain)\n</domstatus>\n")
        let recorded = RunningGuest(uuid: try DomainUUID(Fixtures.web1UUID), name: try GuestName("web1"),
                                    interfaces: [RunningGuest.Interface(mac: MAC("52:54:00:00:00:10")!, network: "default", bridge: "virbr0")],
                                    address4: IPAddress("192.168.122.10"), addressSource: .explicit, since: Int64(now.timeIntervalSince1970) - 1)
        try host.store.save(recorded)
        let config = "[[guest]]\nname = \"web1\"\naddress = \"192.168.122.10\"\nforwards = [\"8080:80\"]\n"
        var preview = Change.sync
        preview.dryRun = true
        let outcome = try host.reconciler(config, now: now).reconcile(preview)
        #expect(outcome.changed.isEmpty && outcome.adopted.isEmpty && outcome.dropped.isEmpty, "\(outcome.changed)")
        _ = try host.reconciler(config, now: now).reconcile(.sync)
        #expect(host.records.map { $0.holding(.none) } == [recorded], "the bridge the hook saw is kept")
        // Once libvirt has written it, a status file names the bridge under <actual>.
        let later = try Domain.parse(Fixtures.domain(interfaces: """
            <interface type='network'><mac address='52:54:00:00:00:10'/><source network='default' portid='6a04be70-e9af-4f6b-8bc9-323dded99e32'/>
            <actual type='network'><source bridge='virbr0'/></actual><target dev='vnet0'/></interface>
            """))
        #expect(later.interfaces == recorded.interfaces)
    }

    /// `virsh metadata --live` changes the running domain's XML: the next sync follows it.
    @Test func liveMetadataChangesAreFollowed() throws {
        running(metadata: Fixtures.metadata("<forward spec='9090:90'/>"))
        _ = try host.reconciler("", now: now).reconcile(.sync)
        #expect(dnat == ["tcp . 9090 : 192.168.122.10 . 90"])
        running(metadata: Fixtures.metadata("<forward spec='9191:91'/>"))
        let outcome = try host.reconciler("", now: now).reconcile(.sync)
        #expect(outcome.changed.map(\.value) == ["web1"])
        #expect(dnat == ["tcp . 9191 : 192.168.122.10 . 91"])
    }

    /// A guest pending its lease gets its forwards once the lease is written, and follows
    /// the guest to a new address.
    @Test func pendingGuestsFollowTheirLease() throws {
        let lock = try host.store.holdServiceLock()
        defer { close(lock) }
        running(mac: "52:54:00:00:00:20")
        _ = try host.reconciler(Fixtures.web1Discovered, now: now).reconcile(.sync)
        #expect(host.records.first?.addressSource == .pending)
        #expect(dnat.isEmpty)
        let expiry = Int(now.timeIntervalSince1970) + 3600
        host.tree.write("var/lib/libvirt/dnsmasq/virbr0.status",
            "[{\"ip-address\":\"192.168.122.57\",\"mac-address\":\"52:54:00:00:00:20\",\"expiry-time\":\(expiry)}]")
        var outcome = try host.reconciler(Fixtures.web1Discovered, now: now).reconcile(.sync)
        #expect(outcome.changed.map(\.value) == ["web1"])
        // The lease is the guest's own word: it counts once the host sees the guest use it.
        #expect(dnat.isEmpty)
        #expect(outcome.pending.first?.reason.description
            .contains("its lease address 192.168.122.57 is not yet seen in use at its MAC (52:54:00:00:00:20)") == true)
        host.neighbourTable.see("192.168.122.57", at: "52:54:00:00:00:20")
        outcome = try host.reconciler(Fixtures.web1Discovered, now: now).reconcile(.sync)
        #expect(dnat == ["tcp . 8080 : 192.168.122.57 . 80"])
        host.tree.write("var/lib/libvirt/dnsmasq/virbr0.status",
            "[{\"ip-address\":\"192.168.122.58\",\"mac-address\":\"52:54:00:00:00:20\",\"expiry-time\":\(expiry)}]")
        host.neighbourTable.see("192.168.122.58", at: "52:54:00:00:00:20")
        outcome = try host.reconciler(Fixtures.web1Discovered, now: now).reconcile(.sync)
        #expect(dnat == ["tcp . 8080 : 192.168.122.58 . 80"])
        #expect(host.records.first?.addressSource == .lease)
    }

    /// `apply --all` is recorded, and hooks keep it; `apply --running` ends it; `flush` turns
    /// forwards off until the next apply, and neither hooks nor the service put them back.
    @Test func modesAreRecordedAndKept() throws {
        let toml = Fixtures.web1
        var all = Change.reapply
        all.mode = .all
        _ = try host.reconciler(toml, now: now).reconcile(all)
        #expect(host.store.mode == .all)
        #expect(dnat.count == 1)
        _ = try host.reconciler(toml, now: now).reconcile(.reapply)
        #expect(dnat.count == 1, "a hook's reapply keeps every configured guest")
        _ = try host.reconciler(toml, now: now).reconcile(.flushAll)
        #expect(host.store.mode == .off && host.nft.table == nil)
        _ = try host.reconciler(toml, now: now).reconcile(.reapply)
        #expect(host.nft.table == nil, "off until apply")
        var running = Change.reapply
        running.mode = .running
        _ = try host.reconciler(toml, now: now).reconcile(running)
        #expect(host.store.mode == .running)
        #expect(dnat.isEmpty)
    }
}
