import FoundationEssentials
import PortFwdCore
import PortFwdReaders

/// dnsmasq's lease records as libvirt's lease helper writes them: `<bridge>.status`, a JSON
/// array of `{"ip-address", "mac-address", "expiry-time"}`, with `client-id`, `hostname`,
/// `iaid` and `server-duid` where dnsmasq knew them. libvirt writes the file, but a guest's
/// DHCP client chooses most of what is in it.
///
/// Read by `JSONValue`, bounded: at most `maximumSize` bytes (libvirt's own limit for the
/// file) and `maximumDepth` levels, in linear time. An entry that is malformed in any field
/// this tool reads is skipped, the rest kept; a file that is not a JSON array gives none.
public enum LeaseFile {
    /// libvirt's lease helper reads at most 32 MiB (VIR_NETWORK_DHCP_LEASE_FILE_SIZE_MAX) and
    /// writes that back with one lease more; past that it fails, and the file stays as it is.
    public static let maximumSize = 33 << 20
    /// The helper writes an array of flat objects: two levels, and the values within.
    static let maximumDepth = 8

    /// Every well-formed lease. Skipped: an entry that is not an object; one whose address
    /// could not be a guest's, or has anything after the address; one whose MAC is not a
    /// MAC; one whose expiry is not a whole number of seconds (a string or `true` is not an
    /// infinite lease); one whose `client-id`, when present and not empty, is not hex bytes
    /// joined by colons.
    public static func parse(_ bytes: [UInt8]) -> [Lease] {
        guard bytes.count <= maximumSize, let entries = (try? JSONValue.parse(bytes, depth: maximumDepth))?.array else { return [] }
        return entries.compactMap(lease)
    }

    public static func parse(_ data: Data) -> [Lease] { parse([UInt8](data)) }

    static func lease(_ entry: JSONValue) -> Lease? {
        guard case .object = entry, let mac = entry["mac-address"]?.string.flatMap(MAC.init),
              let address = entry["ip-address"]?.string.flatMap(IPAddress.init), address.guestRefusal == nil,
              let expiry = entry["expiry-time"].flatMap(seconds) else { return nil }
        // Absent or "": the client sent no identifier. Anything else must read as one, and is
        // kept as libvirt prints it, lower-case: what attribution compares.
        var clientID: String?
        if let field = entry["client-id"] {
            guard let text = field.string else { return nil }
            if !text.isEmpty {
                guard let id = ClientID(text) else { return nil }
                clientID = id.description
            }
        }
        return Lease(mac: mac, address: address, expiry: expiry, clientID: clientID)
    }

    /// Seconds since 1970 as libvirt writes them (a whole number, 0 or more, below 10^15).
    static func seconds(_ value: JSONValue) -> Int64? {
        switch value {
        case .unsigned(let n): return n < 1_000_000_000_000_000 ? Int64(n) : nil
        case .double(let d): return d.isFinite && d >= 0 && d == d.rounded() && d < 1e15 ? Int64(d) : nil
        default: return nil
        }
    }
}
