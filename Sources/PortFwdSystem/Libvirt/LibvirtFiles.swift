import Foundation
import PortFwdCore

/// Reads libvirt's own files: network definitions, leases, the status of running domains.
/// They are written by libvirt, but their content comes partly from guests and from people
/// allowed to define networks and domains, so everything is parsed into typed values and
/// anything that does not parse is skipped.
public struct LibvirtFiles: Sendable {
    public let paths: LibvirtPaths

    public init(paths: LibvirtPaths = LibvirtPaths()) { self.paths = paths }

    /// Every network definition, by name; runtime state wins over the persistent definition
    /// because it includes `net-update --live` changes.
    public func networks() -> [String: NetworkDefinition] {
        var byName: [String: NetworkDefinition] = [:]
        for dir in paths.networkDirectories {
            let files = (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []
            for file in files.sorted() where file.hasSuffix(".xml") {
                guard let data = FileManager.default.contents(atPath: "\(dir)/\(file)"),
                      let network = try? NetworkDefinition.parse(data) else { continue }
                byName[network.name] = network
            }
        }
        return byName
    }

    /// The lease file of a bridge; nil when the bridge name is not an interface name.
    public func leaseFile(bridge: String) -> String? {
        // Bridge names come from XML; keep them to interface-name characters before using one in a path.
        guard !bridge.isEmpty, bridge.count <= 15, !bridge.hasPrefix("."),
              bridge.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "-_.".contains($0)) }) else { return nil }
        return "\(paths.leaseDirectory)/\(bridge).status"
    }

    /// Current leases for `mac` on `bridge`, newest expiry first.
    public func leases(bridge: String, mac: MAC, now: Date) -> [IPAddress] {
        guard let file = leaseFile(bridge: bridge), let data = FileManager.default.contents(atPath: file) else { return [] }
        return Leases.parse(data).filter { $0.mac == mac && $0.isCurrent(at: now) }.map(\.address)
    }

    /// The domains libvirt reports running: one status file per active domain. A file that
    /// does not parse is skipped with a note; libvirt writes each atomically.
    public func runningDomains() -> (domains: [Domain], problems: [String]) {
        let dir = paths.runningDomainDirectory
        guard let files = try? FileManager.default.contentsOfDirectory(atPath: dir) else { return ([], []) }
        var domains: [Domain] = []
        var problems: [String] = []
        for file in files.sorted() where file.hasSuffix(".xml") {
            guard let data = FileManager.default.contents(atPath: "\(dir)/\(file)") else { continue }
            do { domains.append(try Domain.parse(data)) } catch { problems.append("\(dir)/\(file): \(error.message)") }
        }
        return (domains, problems)
    }
}

/// dnsmasq's lease records as libvirt's lease helper writes them: `<bridge>.status`, a JSON
/// array of `{"ip-address", "mac-address", "expiry-time"}`.
public enum Leases {
    public struct Lease: Sendable, Equatable {
        public let mac: MAC
        public let address: IPAddress
        /// Seconds since 1970; 0 means the lease never expires.
        public let expiry: Int64

        public func isCurrent(at now: Date) -> Bool { expiry == 0 || Double(expiry) > now.timeIntervalSince1970 }
    }

    /// Every well-formed lease. An entry whose address could not be a guest's, or whose expiry
    /// is not a number (a string or `true` is not an infinite lease), is skipped.
    public static func parse(_ data: Data) -> [Lease] {
        guard let entries = try? JSONDecoder().decode([Entry].self, from: data) else { return [] }
        return entries.compactMap { entry in
            guard let mac = entry.mac.flatMap(MAC.init), let address = entry.address.flatMap(IPAddress.init),
                  address.guestRefusal == nil, let expiry = entry.expiry, expiry.isFinite, expiry >= 0,
                  expiry == expiry.rounded(), expiry < 1e15 else { return nil }
            return Lease(mac: mac, address: address, expiry: Int64(expiry))
        }
    }

    /// One array entry; any field of the wrong type leaves it nil rather than failing the file.
    private struct Entry: Decodable {
        let mac: String?
        let address: String?
        let expiry: Double?

        enum Keys: String, CodingKey { case mac = "mac-address", address = "ip-address", expiry = "expiry-time" }

        init(from decoder: Decoder) throws {
            let c = try decoder.container(keyedBy: Keys.self)
            mac = try? c.decode(String.self, forKey: .mac)
            address = try? c.decode(String.self, forKey: .address)
            expiry = try? c.decode(Double.self, forKey: .expiry)
        }
    }
}
