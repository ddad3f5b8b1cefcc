import Foundation

/// A libvirt network's name, bridge and static DHCP hosts, from its XML (a definition, or
/// the `<networkstatus>` wrapper libvirt keeps under /run).
public struct NetworkDefinition: Sendable, Equatable {
    public struct Host: Sendable, Equatable {
        public let mac: String
        public let address: IPAddress
    }

    public let name: String
    public let bridge: String?
    public let hosts: [Host]

    public static func parse(_ data: Data) throws(ParseError) -> NetworkDefinition {
        var root = try XMLNode.parse(data)
        if root.name == "networkstatus", let inner = root.child("network") { root = inner }
        guard root.name == "network", let name = root.child("name")?.trimmedText else {
            throw ParseError("not a network XML")
        }
        var hosts: [Host] = []
        for ip in root.children("ip") {
            for host in ip.child("dhcp")?.children("host") ?? [] {
                guard let mac = host.attributes["mac"].flatMap(MAC.init), let text = host.attributes["ip"],
                      let address = IPAddress(text) else { continue }
                hosts.append(Host(mac: mac.value, address: address))
            }
        }
        return NetworkDefinition(name: name, bridge: root.child("bridge")?.attributes["name"], hosts: hosts)
    }

    /// Every network definition found under `paths`, by name; runtime state wins over the
    /// persistent definition because it includes `net-update --live` changes.
    public static func load(_ paths: LibvirtPaths) -> [String: NetworkDefinition] {
        var byName: [String: NetworkDefinition] = [:]
        for dir in paths.networkDirectories {
            let files = (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []
            for file in files.sorted() where file.hasSuffix(".xml") {
                guard let data = FileManager.default.contents(atPath: "\(dir)/\(file)"),
                      let network = try? parse(data) else { continue }
                byName[network.name] = network
            }
        }
        return byName
    }
}

/// dnsmasq's lease records as libvirt's leases helper writes them: `<bridge>.status`, a JSON
/// array of `{"ip-address", "mac-address", "expiry-time"}`.
public enum Leases {
    public static func current(bridge: String, mac: String, paths: LibvirtPaths, now: Date) -> [IPAddress] {
        // Bridge names come from XML; keep them to interface-name characters before using one in a path.
        guard !bridge.isEmpty, bridge.count <= 15, bridge.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "-_.".contains($0)) }),
              !bridge.hasPrefix(".") else { return [] }
        guard let data = FileManager.default.contents(atPath: "\(paths.leaseDirectory)/\(bridge).status"),
              let entries = try? JSONSerialization.jsonObject(with: data) as? [[String: Any]] else { return [] }
        return entries.compactMap { entry in
            guard let m = (entry["mac-address"] as? String).flatMap(MAC.init), m.value == mac,
                  let text = entry["ip-address"] as? String, let address = IPAddress(text) else { return nil }
            let expiry = (entry["expiry-time"] as? NSNumber)?.doubleValue ?? 0
            // 0 means an infinite lease.
            return expiry == 0 || expiry > now.timeIntervalSince1970 ? address : nil
        }
    }
}
