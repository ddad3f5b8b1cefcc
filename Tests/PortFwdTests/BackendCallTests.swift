import Testing
@testable import PortFwd

/// What each backend asks of the system for one apply, against recording fakes: the calls
/// that were taken off the apply path must stay off it.
@Suite struct BackendCallTests {
    func plan() throws -> Plan {
        let config = try Config.parse("[[guest]]\nname = \"a\"\naddress = \"192.168.122.10\"\nforwards = [\"8080:80\"]\n")
        return try Plan(guests: Resolver.guests(config: config, running: [], all: true).guests, settings: config.settings)
    }

    /// libnftables 1.0.6 answers `list tables` by fetching every table whole (150 ms at 10,000
    /// forwards), and after a large commit its next read does the same; so no `list tables`,
    /// and every survey listing comes before the swap.
    @Test func nftablesApplyListsNoTablesAndSurveysBeforeTheSwap() throws {
        let nft = RecordingNftables()
        let backend = NftablesBackend(nft: nft, admission: Admission(nft: nft, commands: RecordingCommands(), mark: .default, mode: .auto, procNet: "/nonexistent"))
        _ = try backend.apply(try plan())
        let scripts = nft.scripts
        #expect(!scripts.contains { $0.hasPrefix("list tables") })
        let swap = try #require(scripts.firstIndex { $0.contains("delete table inet libvirt_portfwd") })
        #expect(swap == scripts.count - 1, "\(scripts.map { $0.prefix(40) })")
        #expect(scripts.dropLast().allSatisfy { $0.hasPrefix("list chain ") })
    }

    /// One save per family feeds the jump fixes, which commit with the chains: a test pass
    /// and one commit for the family in use, a single save for the unused one.
    @Test func iptablesApplyIsOneSaveTestAndCommitPerFamily() throws {
        let commands = RecordingCommands()
        let admission = Admission(nft: nil, commands: commands, mark: .default, mode: .none, procNet: "/nonexistent")
        _ = try IptablesBackend(commands: commands, admission: admission, flavor: .nft).apply(try plan())
        let calls = commands.calls.map { $0.argv.joined(separator: " ") }
        #expect(calls == [
            "iptables-nft-save",
            "iptables-nft-restore -w --noflush --test",
            "iptables-nft-restore -w --noflush",
            "ip6tables-nft-save",
        ])
        let commit = try #require(commands.calls[2].input)
        // The jumps sit in the same table blocks as the chains, before each COMMIT.
        #expect(commit.contains("-I POSTROUTING 1 -m comment --comment libvirt-portfwd -j LIBVIRT_PORTFWD_POST\nCOMMIT\n*filter\n"))
        #expect(commit.hasSuffix("-I FORWARD 1 -m comment --comment libvirt-portfwd -j LIBVIRT_PORTFWD_FWD\nCOMMIT\n"))
        #expect(commit == commands.calls[1].input)
    }
}
