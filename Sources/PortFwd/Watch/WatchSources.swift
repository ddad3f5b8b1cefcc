import FoundationEssentials
#if canImport(Glibc)
import Glibc
#endif
import PortFwdCore
import PortFwdSystem

/// Where the watch service's events and time come from: the kernel's sockets and clock in the
/// service, fakes in a test, which then builds a `Watcher` without privileges and drives it.
/// Each source is a descriptor that poll(2) waits on and what it said since the last drain.
public struct WatchSources {
    /// netfilter's commits: another program changed a table our forwards depend on.
    public var firewall: any FirewallEventSource
    /// libvirt's lease and status-file directories.
    public var directories: any DirectoryEventSource
    /// SIGHUP, SIGTERM and SIGINT.
    public var signals: any SignalSource
    /// The neighbour tables' changes; nil where they cannot be followed.
    public var neighbours: (any NeighbourEventSource)?
    /// Seconds on a monotonic clock: the policy's time, which wall-clock jumps do not move.
    public var clock: @Sendable () -> Double
    /// Whether iptables-legacy's tables are loaded: they announce nothing, a timer stands in.
    public var legacyTablesLoaded: () -> Bool

    public init(firewall: any FirewallEventSource, directories: any DirectoryEventSource, signals: any SignalSource,
                neighbours: (any NeighbourEventSource)?, clock: @escaping @Sendable () -> Double, legacyTablesLoaded: @escaping () -> Bool) {
        self.firewall = firewall
        self.directories = directories
        self.signals = signals
        self.neighbours = neighbours
        self.clock = clock
        self.legacyTablesLoaded = legacyTablesLoaded
    }

    /// The host's own: netlink, inotify and signalfd sockets, CLOCK_MONOTONIC and /proc/net.
    public static func system(procNet: String) throws(PortFwdError) -> WatchSources {
        WatchSources(firewall: try NetfilterEvents(), directories: try DirectoryEvents(), signals: try SignalEvents(),
                     neighbours: try? NeighbourEvents(), clock: monotonic, legacyTablesLoaded: {
            ["ip_tables_names", "ip6_tables_names"].contains { name in !(SafeFile.kernelText("\(procNet)/\(name)") ?? "").isEmpty }
        })
    }

    @Sendable static func monotonic() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }
}

public protocol FirewallEventSource: AnyObject {
    var fd: Int32 { get }
    func drain() -> (commits: [NetfilterMessages.Commit], overrun: Bool, foreign: Int)
}

public protocol DirectoryEventSource: AnyObject {
    var fd: Int32 { get }
    /// Watches `path`, or its nearest existing ancestor until it appears.
    @discardableResult func watch(_ path: String) -> Bool
    func drain() -> Set<String>
}

public protocol SignalSource: AnyObject {
    var fd: Int32 { get }
    func drain() -> [Int32]
}

public protocol NeighbourEventSource: AnyObject {
    var fd: Int32 { get }
    func drain() -> (entries: [Neighbour], overrun: Bool)
}

extension NetfilterEvents: FirewallEventSource {}
extension DirectoryEvents: DirectoryEventSource {}
extension SignalEvents: SignalSource {}
extension NeighbourEvents: NeighbourEventSource {}
