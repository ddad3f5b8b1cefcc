import Foundation
import PortFwd
import PortFwdCore
import PortFwdSystem

public final class RecordingLog: Log, @unchecked Sendable {
    private let lock = NSLock()
    private var _infos: [String] = []
    private var _warnings: [String] = []
    private var _errors: [String] = []
    public var infos: [String] { lock.withLock { _infos } }
    public var warnings: [String] { lock.withLock { _warnings } }
    public var errors: [String] { lock.withLock { _errors } }
    public func info(_ line: String) { lock.withLock { _infos.append(line) } }
    public func warning(_ line: String) { lock.withLock { _warnings.append(line) } }
    public func error(_ line: String) { lock.withLock { _errors.append(line) } }
}

/// Both fakes wired together, with a libvirt tree and a state directory: what the reconciler,
/// the hooks and the backends run against in unit tests.
public final class FakeHost: @unchecked Sendable {
    public let nft: FakeNftables
    public let iptables = FakeIptables()
    public let tree = TempDir()
    public let state = TempDir()
    public let log = RecordingLog()

    public init(destroy: Bool = false) {
        nft = FakeNftables(destroy: destroy)
        nft.iptables = iptables
        tree.write("etc/libvirt/qemu/networks/default.xml", Fixtures.defaultNetwork)
    }

    public var store: StateStore { StateStore(directory: "\(state.path)/run") }
    /// The host's neighbour tables, as the tests set them.
    public let neighbourTable = NeighbourTable()
    public var libvirt: LibvirtFiles {
        let table = neighbourTable
        return LibvirtFiles(paths: LibvirtPaths(root: tree.path), neighbours: { table.entries }, ask: { entries, _ in table.answered(entries) })
    }

    public func host(override: Settings.Backend? = nil, flavour: IptablesFlavour? = nil) -> PortFwd.Host {
        PortFwd.Host(nft: nft, commands: iptables, procNet: iptables.procNet.path, backend: override, flavour: flavour)
    }

    public func reconciler(_ toml: String, override: Settings.Backend? = nil, flavour: IptablesFlavour? = nil,
                    now: Date = Date()) throws -> Reconciler {
        let config = try Config.parse(toml)
        return Reconciler(config: config, configText: toml, store: store, libvirt: libvirt,
                          host: host(override: override, flavour: flavour), clock: { now })
    }

    public func hook(_ toml: String, override: Settings.Backend? = nil) throws -> QemuHook {
        QemuHook(reconciler: try reconciler(toml, override: override), log: log)
    }

    /// The kernel side and the records, as text: compared byte for byte around a failure.
    public var dump: String {
        let files = ((try? FileManager.default.contentsOfDirectory(atPath: "\(state.path)/run")) ?? []).sorted().filter { $0 != "lock" }
        let records = files.map { f in "== \(f)\n" + ((try? String(contentsOfFile: "\(state.path)/run/\(f)", encoding: .utf8)) ?? "?") }
            .joined(separator: "\n")
        return nft.dump + iptables.dump + records
    }

    public var records: [RunningGuest] { store.load().guests }
}

extension FirewallBackend {
    /// Installs the plan the way the reconciler does, all or nothing; returns the notes.
    @discardableResult
    public func apply(_ plan: Plan) throws(PortFwdError) -> [String] {
        let installation = try install(plan)
        try Steps.run(installation.steps)
        return installation.notes
    }

    /// Removes everything of ours, as flush does; throws with every failure.
    public func remove() throws(PortFwdError) {
        let failures = Steps.runAll(try removal(admission: true).steps)
        if !failures.isEmpty { throw PortFwdError(.io, lines: failures) }
    }
}

/// A neighbour table tests write: which MAC the host delivers an address to, on which bridge,
/// and which of those entries a guest behind the MAC answers for (the host's own question).
public final class NeighbourTable: @unchecked Sendable {
    private let lock = NSLock()
    private var _entries: [Neighbour] = []
    private var answering: Set<Neighbour> = []
    public var entries: [Neighbour] { lock.withLock { _entries } }

    /// `address` used at `mac` on `interface`, replacing what the table had for it there: the
    /// guest behind `mac` answers for it.
    public func see(_ address: String, at mac: String, on interface: String = "virbr0") {
        put(address, at: mac, on: interface, answered: true)
    }

    /// An entry someone else wrote (dnsmasq, for a DHCP request naming `mac`; a forged frame):
    /// in the table, but nobody at `mac` answers for `address`.
    public func inject(_ address: String, at mac: String, on interface: String = "virbr0") {
        put(address, at: mac, on: interface, answered: false)
    }

    private func put(_ address: String, at mac: String, on interface: String, answered: Bool) {
        let entry = Neighbour(address: IPAddress(address)!, mac: MAC(mac)!, interface: interface)
        lock.withLock {
            _entries.removeAll { $0.address == entry.address && $0.interface == interface }
            answering = answering.filter { $0.address != entry.address || $0.interface != interface }
            _entries.append(entry)
            if answered { answering.insert(entry) }
        }
    }

    public func answers(_ entry: Neighbour) -> Bool { lock.withLock { answering.contains(entry) } }
    public func answered(_ entries: [Neighbour]) -> Set<Neighbour> { lock.withLock { answering.intersection(entries) } }

    public func forget(_ address: String) {
        lock.withLock {
            _entries.removeAll { $0.address == IPAddress(address)! }
            answering = answering.filter { $0.address != IPAddress(address)! }
        }
    }
}
