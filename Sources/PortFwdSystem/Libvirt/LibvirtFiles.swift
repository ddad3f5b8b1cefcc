import FoundationEssentials
#if canImport(Glibc)
import Glibc
#endif
import PortFwdCore
import Synchronization

/// Reads libvirt's own files: network definitions, leases, the status of running domains.
/// They are written by libvirt, but their content comes partly from guests and from people
/// allowed to define networks and domains, so everything is parsed into typed values and
/// anything that does not parse is skipped. Every file is read through `SafeFile` as a regular
/// file only, without blocking, up to a size limit.
public struct LibvirtFiles: Sendable {
    public let paths: LibvirtPaths
    /// Lease files parsed once per change: a long-running service shares one.
    let leaseCache: LeaseCache
    /// The host's neighbour tables (the kernel's, but for tests); which entries' MACs answer
    /// for their addresses (asked on the wire, but for tests), and how long one plan may wait
    /// for them (`NeighbourProbe.Session`).
    let neighbours: @Sendable () -> [Neighbour]
    let ask: @Sendable ([Neighbour], Double) -> Set<Neighbour>
    let probeWait: Double

    public init(paths: LibvirtPaths = LibvirtPaths(), leaseCache: LeaseCache = LeaseCache(),
                neighbours: @escaping @Sendable () -> [Neighbour] = Neighbours.current,
                ask: @escaping @Sendable ([Neighbour], Double) -> Set<Neighbour> = NeighbourProbe.answered,
                probeWait: Double = NeighbourProbe.timeout) {
        self.paths = paths
        self.leaseCache = leaseCache
        self.neighbours = neighbours
        self.ask = ask
        self.probeWait = probeWait
    }

    /// Every network definition, by name; runtime state wins over the persistent definition
    /// because it includes `net-update --live` changes.
    public func networks() -> [String: NetworkDefinition] {
        var byName: [String: NetworkDefinition] = [:]
        for dir in paths.networkDirectories {
            for file in Self.files(in: dir, suffix: ".xml") {
                guard let bytes = try? SafeFile.read("\(dir)/\(file)", limit: XMLParser.maximumSize, trust: .regularFile) ?? nil,
                      let network = try? NetworkDefinition.parse(Data(bytes)) else { continue }
                byName[network.name] = network
            }
        }
        return byName
    }

    /// The lease file of a bridge; nil when the bridge name is not an interface name.
    public func leaseFile(bridge: String) -> String? {
        guard NetworkDefinition.isInterfaceName(bridge) else { return nil }
        return "\(paths.leaseDirectory)/\(bridge).status"
    }


    /// Current leases for `mac` on `bridge`, newest first (see `Lease.newerFirst`).
    public func leases(bridge: String, mac: MAC, now: Date) -> [IPAddress] {
        guard let file = leaseFile(bridge: bridge) else { return [] }
        let current = Int64(now.timeIntervalSince1970)
        return leaseCache.leases(file).filter { $0.mac == mac && $0.isCurrent(at: current) }.sorted(by: Lease.newerFirst).map(\.address)
    }

    /// The current leases of every bridge that has a lease file.
    public func leaseTable(now: Date) -> LeaseTable {
        var table = LeaseTable()
        let current = Int64(now.timeIntervalSince1970)
        for file in Self.files(in: paths.leaseDirectory, suffix: ".status") {
            let bridge = String(file.dropLast(".status".count))
            guard let path = leaseFile(bridge: bridge) else { continue }
            table.add(bridge: bridge, leaseCache.leases(path).filter { $0.isCurrent(at: current) })
        }
        return table
    }

    /// Everything the address and port rules look at: networks, leases, the host's own
    /// addresses, its neighbours and its listening sockets.
    public func surroundings(now: Date, networks known: [String: NetworkDefinition]? = nil) -> Surroundings {
        let session = NeighbourProbe.Session(wait: probeWait, ask: ask)
        return Surroundings(networks: known ?? networks(), hostAddresses: HostAddresses.current(), leases: leaseTable(now: now),
                     neighbours: neighbours(), listeners: HostSockets.listening(procNet: paths.procNet),
                     owner: { HostSockets.owner(of: $0) }, answers: { session.answered($0) })
    }

    /// The domains libvirt reports running: one status file per active domain. A file that
    /// does not parse still names its domain, with a note; libvirt writes each atomically.
    public func runningDomains() -> (domains: [Domain], unreadable: [DomainUUID], problems: [String]) {
        let dir = paths.runningDomainDirectory
        var domains: [Domain] = [], unreadable: [DomainUUID] = []
        var problems: [String] = []
        for file in Self.files(in: dir, suffix: ".xml") {
            let path = "\(dir)/\(file)"
            let bytes: [UInt8]
            do {
                // A status file is the domain's XML and more; libvirt reads them whole too.
                guard let read = try SafeFile.read(path, limit: 4 * XMLParser.maximumSize, trust: .regularFile) else { continue }
                bytes = read
            } catch {
                problems.append(error.message)
                continue
            }
            do { domains.append(try Domain.parse(Data(bytes))) } catch {
                if let uuid = DomainIdentity.uuid(in: bytes) { unreadable.append(uuid) }
                problems.append("\(path): \(error.message)")
            }
        }
        return (domains, unreadable, problems)
    }

    /// Whether libvirt's running-domain directory exists (libvirt has run on this host).
    public var knowsRunningDomains: Bool { FileManager.default.fileExists(atPath: paths.runningDomainDirectory) }

    /// Names in `dir` ending in `suffix`, sorted; none when it cannot be listed.
    static func files(in dir: String, suffix: String) -> [String] {
        (Directory.names(dir) ?? []).filter { $0.hasSuffix(suffix) && !$0.hasPrefix(".") }.sorted()
    }
}

/// Lease files as parsed, keyed by path and checked by device, inode, size and mtime: dnsmasq's
/// helper replaces the whole file on every change, so a file that did not change is never
/// parsed again. A database of tens of thousands of leases is parsed once per change, not once
/// per guest per check.
public final class LeaseCache: Sendable {
    private struct Entry {
        let identity: [Int64]
        let leases: [Lease]
    }

    private let entries = Mutex<[String: Entry]>([:])

    public init() {}

    /// Every well-formed lease in `path`; none when it is missing or unreadable.
    public func leases(_ path: String) -> [Lease] {
        var st = stat()
        guard stat(path, &st) == 0 else {
            entries.withLock { $0[path] = nil }
            return []
        }
        let identity = [Int64(st.st_dev), Int64(st.st_ino), Int64(st.st_size), Int64(st.st_mtim.tv_sec), Int64(st.st_mtim.tv_nsec)]
        if let hit = entries.withLock({ $0[path] }), hit.identity == identity { return hit.leases }
        let parsed = ((try? SafeFile.read(path, limit: LeaseFile.maximumSize, trust: .regularFile)) ?? nil).map { LeaseFile.parse($0) } ?? []
        entries.withLock { $0[path] = Entry(identity: identity, leases: parsed) }
        return parsed
    }
}
