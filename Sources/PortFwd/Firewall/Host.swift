import PortFwdCore
import PortFwdSystem
import Synchronization

/// This host as the firewall strategies see it, and how this process was told to use it: one
/// value per process, built from the command line (`Setup`), passed down to every reconciler.
/// It is the one place that picks a backend (`backends(_:)`), asks whether libnftables reaches
/// the kernel, and whether firewalld will turn our forwards away.
public final class Host: Sendable {
    public let nft: NftablesRunner
    public let commands: CommandRunner
    public let procNet: String
    /// `--backend`, over `settings.backend`.
    public let backend: Settings.Backend?
    /// `--iptables`: the iptables flavour; nil follows libvirt's.
    public let flavour: IptablesFlavour?
    /// Whether the kernel may be asked at all: `export` and `check` without `--kernel` ask
    /// nothing, and `auto` then means nftables (what they print needs no kernel).
    public let probe: Bool
    private let reached = Mutex(false)

    public init(nft: NftablesRunner, commands: CommandRunner, procNet: String,
                backend: Settings.Backend? = nil, flavour: IptablesFlavour? = nil, probe: Bool = true) {
        self.nft = nft
        self.commands = commands
        self.procNet = procNet
        self.backend = backend
        self.flavour = flavour
        self.probe = probe
    }

    /// This machine, through the process's libnftables context and real processes; /proc/net
    /// under `--libvirt-root` as libvirt's files are.
    public static func system(paths: LibvirtPaths = LibvirtPaths(), backend: Settings.Backend? = nil, flavour: IptablesFlavour? = nil,
                              probe: Bool = true) -> Host {
        Host(nft: LibNftables.shared, commands: ProcessRunner(), procNet: paths.procNet, backend: backend, flavour: flavour, probe: probe)
    }

    /// The same host, never asked: for what needs no kernel.
    public var unprobed: Host { Host(nft: nft, commands: commands, procNet: procNet, backend: backend, flavour: flavour, probe: false) }

    /// Whether libnftables loads and the kernel answers nf_tables (or merely does not allow
    /// this process to ask: a user's `export`). Whether a table that is never there exists is
    /// asked, permission check included, without fetching anything. Asked until it answers
    /// yes, then never again: a transaction builds its backends several times, and the
    /// service lives for months.
    public var nftablesReachable: Bool {
        if !probe || reached.withLock({ $0 }) { return true }
        var usable = true
        do { _ = try nft.exists(NftTableID("inet", "\(NftRenderer.table)_probe"), chain: nil) } catch {
            usable = error.code == .notFound || error.code == .permission
        }
        if usable { reached.withLock { $0 = true } }
        return usable
    }

    /// The strategies for these settings: the chosen one, and the others, kept so that
    /// whatever they left behind after a switch can be removed (two strategies must never DNAT
    /// the same packet). `auto` is nftables when libnftables reaches the kernel, else iptables.
    /// `store` keeps what the nftables backend learns of its rules at each install; `survey`,
    /// for one transaction that judges and then installs, its one survey of the other firewalls.
    public func backends(_ settings: Settings, store: StateStore? = nil, survey: AdmissionSurvey? = nil) -> Backends {
        let usable = nftablesReachable
        let runner: NftablesRunner? = usable ? nft : nil
        let nftables = NftablesBackend(nft: nft, commands: commands, procNet: procNet, store: store, survey: survey)
        let iptables = IptablesBackend(commands: commands, nft: runner, flavour: flavour, procNet: procNet)
        var choice = backend ?? settings.backend
        if choice == .auto { choice = usable ? .nftables : .iptables }
        switch choice {
        case .nftables: return Backends(selected: nftables, others: [iptables])
        case .iptables, .auto: return Backends(selected: iptables, others: usable ? [nftables] : [])
        }
    }

    /// Whether firewalld (>= 2.3, `StrictForwardPorts=yes`) rejects every forwarded connection
    /// that is not one of its own forward-ports. Asked each time: firewalld's mode can change
    /// under a service that runs for months. nil when libnftables cannot look.
    public func firewalldRejectsForwards() throws(PortFwdError) -> Bool? {
        guard probe, nftablesReachable else { return nil }
        return try Firewalld.strictForwardPorts(nft)
    }
}
