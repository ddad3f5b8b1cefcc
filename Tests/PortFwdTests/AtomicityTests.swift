import Foundation
import Testing
import PortFwd
import PortFwdCore
import PortFwdSystem

/// libnftables in a test's namespace, failing the n-th transaction that would change something.
final class FaultyNftables: NftablesRunner, @unchecked Sendable {
    let real = LibNftables()
    var failAt: Int?
    private(set) var mutations = 0

    init(failAt: Int? = nil) { self.failAt = failAt }

    var hasDestroy: Bool { real.hasDestroy }

    func commit(_ transaction: NftTransaction, dryRun: Bool) throws(PortFwdError) {
        if !dryRun {
            defer { mutations += 1 }
            if mutations == failAt { throw PortFwdError(.refused, "injected failure of change \(mutations)") }
        }
        try real.commit(transaction, dryRun: dryRun)
    }

    func list(_ query: NftQuery) throws(PortFwdError) -> String { try real.list(query) }
}

/// Every event is all or nothing across the table, admission and both families (hardening,
/// class 4): a failure injected at each step of an apply leaves the kernel's rules and the
/// records exactly as they were, on both backends, with libvirt's firewalls in every flavour.
@Suite(.privileged, .serialized) struct RootAtomicityTests {
    static let before = """
        [[guest]]
        name = "web1"
        address = "192.168.122.10"
        address6 = "fd00:122::10"
        forwards = ["8080:80"]

        """
    /// A new mark moves every admission rule; web2 adds forwards in both families.
    static let after = "[settings]\nmark = 0x20000000\n" + before + """
        [[guest]]
        name = "web2"
        address = "192.168.122.11"
        address6 = "fd00:122::11"
        forwards = ["9090:90", "5353/udp"]

        """

    /// libvirt 9's chains in iptables-nft (both families) and iptables-legacy, and libvirt
    /// 10.4's own nftables table: admission has a place in each.
    static let obstacles = (["ip link add virbr0 type bridge"] + [Obstacle.libvirtIptablesNft, .libvirtIp6tables, .libvirtIptablesLegacy,
        .libvirtNftables].map(\.script)).joined(separator: "\n")

    struct Setup {
        let ns: Namespace
        let state: TempDir
        let nft: FaultyNftables
        let commands: NamespacedCommands
        let backend: Settings.Backend

        func reconciler(_ toml: String) throws -> Reconciler {
            let config = try Config.parse(toml)
            let nft = self.nft, commands = self.commands, procNet = ns.procNet, backend = self.backend
            return Reconciler(config: config, configText: toml, store: StateStore(directory: "\(state.path)/run"),
                              host: Host(nft: nft, commands: commands, procNet: procNet, backend: backend, flavour: .nft))
        }

        func web(_ n: Int) throws -> RunningGuest {
            RunningGuest(uuid: try DomainUUID("00000000-0000-4000-8000-00000000000\(n)"), name: try GuestName("web\(n)"), since: Int64(n))
        }

        /// Every rule the kernel holds (iptables-nft's in nft syntax) and every state file.
        func dump() throws -> String {
            let kernel = try Shell.run("ip netns exec \(ns.name) sh -c 'nft list ruleset; iptables-legacy-save; ip6tables-legacy-save'")
                .split(separator: "\n").filter { !$0.hasPrefix("#") }
                .map { $0.replacingOccurrences(of: #"\[[0-9]+:[0-9]+\]"#, with: "", options: .regularExpression) }.joined(separator: "\n")
            let dir = "\(state.path)/run"
            let files = ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).sorted().filter { $0 != "lock" }
            return kernel + files.map { "\n== \($0)\n" + ((try? String(contentsOfFile: "\(dir)/\($0)", encoding: .utf8)) ?? "?") }.joined()
        }
    }

    /// A namespace with the obstacles and web1 installed by `before`; `body` gets it.
    func withSetup(_ backend: Settings.Backend, failNft: Int? = nil, failCommit: Int? = nil, _ body: (Setup) throws -> Void) throws {
        try Namespace.with { ns in
            try Shell.run("ip netns exec \(ns.name) sh -ec \(Lab.quote(Self.obstacles))")
            let state = TempDir()
            let setup = Setup(ns: ns, state: state, nft: FaultyNftables(), commands: ns.commands(), backend: backend)
            try IsolatedNetwork.run(in: ns.name) { _ = try setup.reconciler(Self.before).reconcile(.record(try setup.web(1))) }
            setup.nft.failAt = failNft.map { $0 + setup.nft.mutations }
            setup.commands.failCommit = failCommit.map { $0 + setup.commands.commits }
            try body(setup)
        }
    }

    /// How many changes a successful `after` makes, through each seam.
    func changes(_ backend: Settings.Backend) throws -> (nft: Int, commits: Int) {
        var counts = (nft: 0, commits: 0)
        try withSetup(backend) { setup in
            let (nft0, commits0) = (setup.nft.mutations, setup.commands.commits)
            let outcome = try IsolatedNetwork.run(in: setup.ns.name) { try setup.reconciler(Self.after).reconcile(.record(try setup.web(2))) }
            #expect(outcome.plan.entries.count == 6)
            counts = (setup.nft.mutations - nft0, setup.commands.commits - commits0)
        }
        return counts
    }

    @Test(arguments: [Settings.Backend.nftables, .iptables])
    func aFailureAtAnyStepChangesNothing(backend: Settings.Backend) throws {
        let counts = try changes(backend)
        #expect(counts.nft + counts.commits >= 4, "every seam is exercised: \(counts)")
        let faults = (0..<counts.nft).map { (nft: Optional($0), commit: Int?.none) } + (0..<counts.commits)
            .map { (nft: Int?.none, commit: Optional($0)) }
        for fault in faults {
            try withSetup(backend, failNft: fault.nft, failCommit: fault.commit) { setup in
                let before = try setup.dump()
                let error = expectError(PortFwdError.self, "\(fault)") {
                    _ = try IsolatedNetwork.run(in: setup.ns.name) { try setup.reconciler(Self.after).reconcile(.record(try setup.web(2))) }
                }
                #expect(error?.message.hasSuffix("; nothing changed") == true, "\(fault): \(String(describing: error))")
                let after = try setup.dump()
                #expect(after == before, "\(fault) changed something:\n\(Self.diff(before, after))")
            }
        }
    }

    /// A record that cannot be written stops the event before the kernel is touched.
    @Test func aRecordThatCannotBeWrittenChangesNothing() throws {
        try withSetup(.nftables) { setup in
            let before = try setup.dump()
            // Where web2's record would go, a directory: the rename onto it fails.
            try FileManager.default.createDirectory(atPath: "\(setup.state.path)/run/00000000-0000-4000-8000-000000000002.json/x",
                withIntermediateDirectories: true)
            #expect(throws: PortFwdError.self) {
                _ = try IsolatedNetwork.run(in: setup.ns.name) { try setup.reconciler(Self.after).reconcile(.record(try setup.web(2))) }
            }
            try FileManager.default.removeItem(atPath: "\(setup.state.path)/run/00000000-0000-4000-8000-000000000002.json")
            #expect(try setup.dump() == before)
        }
    }

    static func diff(_ a: String, _ b: String) -> String {
        let x = a.split(separator: "\n"), y = b.split(separator: "\n")
        return (x.filter { !y.contains($0) }.map { "- \($0)" } + y.filter { !x.contains($0) }.map { "+ \($0)" }).joined(separator: "\n")
    }
}
