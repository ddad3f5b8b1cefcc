import Foundation
import Testing
import PortFwdCore
import PortFwdSystem

/// libvirt's lease files, read by the bounded JSON reader: each malformed entry is skipped and
/// every other kept; an address that could be no guest's is refused; `client-id` is read as
/// the bytes dnsmasq printed, strictly.
@Suite struct LeaseFileTests {
    /// What libvirt's lease helper writes (dnsmasq 2.89, an IPv4 and a DHCPv6 lease).
    static let helper = """
        [
          {
            "ip-address": "192.168.122.57",
            "mac-address": "52:54:00:00:00:20",
            "hostname": "evil",
            "client-id": "01:52:54:00:00:00:20",
            "expiry-time": 1765000000
          },
          {
            "iaid": "5517834",
            "ip-address": "fd00:122::57",
            "mac-address": "52:54:00:00:00:20",
            "client-id": "00:04:a1:b2:c3:d4:e5:f6:07:18:29:3a:4b:5c:6d:7e:8f:90",
            "server-duid": "00:01:00:01:2c:aa:bb:cc:52:54:00:00:00:01",
            "expiry-time": 1765000300
          },
          {
            "ip-address": "192.168.122.58",
            "mac-address": "52:54:00:00:00:21",
            "expiry-time": 1765000000
          }
        ]
        """

    @Test func theHelpersFileReads() throws {
        let leases = LeaseFile.parse(Array(Self.helper.utf8))
        #expect(leases.map(\.address.description) == ["192.168.122.57", "fd00:122::57", "192.168.122.58"])
        #expect(leases[0].clientID == "01:52:54:00:00:00:20")
        #expect(leases[0].clientID.flatMap(ClientID.init)?.bytes == [0x01, 0x52, 0x54, 0x00, 0x00, 0x00, 0x20])
        #expect(leases[1].clientID.flatMap(ClientID.init)?.bytes.count == 18)
        #expect(leases[2].clientID == nil)
        #expect(leases.map(\.expiry) == [1_765_000_000, 1_765_000_300, 1_765_000_000])
    }

    /// One malformed entry costs that entry, never the others; a bad `client-id` makes its
    /// entry malformed (libvirt's helper prints every identifier as hex bytes).
    @Test(arguments: [
        #""client-id": "01:52:5""#, #""client-id": "0152540000""#, #""client-id": "01:5g""#, #""client-id": "1:52""#,
        #""client-id": "01::52""#, #""client-id": ":01""#, #""client-id": "01:""#, #""client-id": "0""#, #""client-id": 1"#,
        #""client-id": null"#, #""client-id": ["01"]"#, #""client-id": "01:52 ""#, #""client-id": "01\u003a52""#,
    ])
    func aMalformedEntryIsSkippedAlone(field: String) {
        let good = #"{"ip-address": "192.168.122.58", "mac-address": "52:54:00:00:00:21", "expiry-time": 0}"#
        let bad = #"{"ip-address": "192.168.122.57", "mac-address": "52:54:00:00:00:20", "expiry-time": 0, \#(field)}"#
        let leases = LeaseFile.parse(Array("[\(good), \(bad), 7, \(good)]".utf8))
        let malformedClientID = !field.hasSuffix(#""01\u003a52""#)
        #expect(leases.count == (malformedClientID ? 2 : 3), "\(field)")
        #expect(leases.allSatisfy { $0.address.description == "192.168.122.58" } == malformedClientID)
    }

    @Test func clientIDsAreBounded() {
        let longest = Array(repeating: "ab", count: ClientID.maximumLength).joined(separator: ":")
        #expect(ClientID(longest)?.bytes.count == 255)
        #expect(ClientID(longest + ":ab") == nil)
        #expect(ClientID("AB:cd")?.description == "ab:cd")
        #expect(ClientID(String(repeating: "ab:", count: 1_000_000)) == nil)
    }

    /// The same guarantees as before the move to JSONValue: refused addresses, expiries that
    /// are not whole seconds, fields of the wrong type, a file that is not an array.
    @Test func theOldGuaranteesHold() {
        func parse(_ text: String) -> [String] { LeaseFile.parse(Array(text.utf8)).map(\.address.description) }
        let entry = { (ip: String, expiry: String) in #"{"ip-address": "\#(ip)", "mac-address": "52:54:00:00:00:20", "expiry-time": \#(expiry)}"# }
        #expect(parse("[" + ["127.0.0.1", "0.0.0.0", "224.0.0.1", "192.168.122.51\\u0000x", "192.168.122.5 ", "::1"].map { entry($0, "0") }
            .joined(separator: ",") + "]") == [])
        #expect(parse("[" + ["\"1\"", "true", "-1", "1.5", "1e15", "1e400", "null"].map { entry("192.168.122.9", $0) }.joined(separator: ",")
            + "]") == [])
        #expect(parse("[" + ["0", "1.0e3", "999999999999999"].map { entry("192.168.122.9", $0) }.joined(separator: ",") + "]").count == 3)
        #expect(parse(#"{"ip-address": "192.168.122.9"}"#) == [])
        #expect(parse("[" + entry("192.168.122.9", "0")) == [])
        #expect(parse(#"[{"ip-address": "192.168.122.9", "mac-address": "52:54:00:00:00:20"}]"#) == [])
        // An empty client-id is no identifier, as libvirt's helper would mean it.
        #expect(LeaseFile.parse(Array(
            #"[{"ip-address": "192.168.122.9", "mac-address": "52:54:00:00:00:20", "expiry-time": 0, "client-id": ""}]"#.utf8))
            .map(\.clientID) == [nil])
        #expect(LeaseFile.parse(Array(
            #"[{"ip-address": "192.168.122.9", "mac-address": "52:54:00:00:00:20", "expiry-time": 0, "client-id": "AB:CD"}]"#.utf8))
            .map(\.clientID) == ["ab:cd"])
    }

    /// Deep, wide, long and damaged files: never a crash; every lease read is valid, and every
    /// well-formed entry of a whole file is read.
    static let hex = (0..<256).map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }

    @Test func anyShapeGivesOnlyValidLeases() {
        var g = ReaderShapes()
        print("LeaseFileTests seed \(g.seed) (READERS_SEED=\(g.seed) replays it)")
        for round in 0..<100 {
            var good = 0
            var entries: [String] = []
            // Many entries, or a few long ones.
            let many = g.chance(2)
            for n in 0..<(many ? g.count(limit: 300) : 1 + g.below(5)) {
                let mac = "52:54:00:" + [(n >> 16) & 0xff, (n >> 8) & 0xff, n & 0xff].map { Self.hex[$0] }.joined(separator: ":")
                let long = { (pieces: [String]) in many ? pieces.joined() : g.long(pieces) }
                switch g.below(6) {
                case 0: entries.append(#"{"ip-address": "192.168.\#(n % 250).\#(2 + n % 200)", "mac-address": "\#(mac)", "#
                    + #""expiry-time": \#(n)}"#); good += 1
                case 1:
                    let id = (0..<(1 + g.below(many ? 8 : 255))).map { _ in Self.hex[g.below(256)] }.joined(separator: ":")
                    entries.append(#"{"ip-address": "fd00::\#(String(n % 60000 + 2, radix: 16))", "mac-address": "\#(mac)", "client-id": "\#(id)", "#
                        + #""expiry-time": 0}"#); good += 1
                case 2: entries.append(#"{"ip-address": "192.168.1.2", "mac-address": "\#(mac)", "hostname": "#
                    + #"\#(String(repeating: "[", count: 50) + String(repeating: "]", count: 50)), "expiry-time": 0}"#)
                case 3: entries.append(#"{"ip-address": "\#(long(["1", "."]))", "mac-address": "\#(mac)", "expiry-time": 0}"#)
                case 4: entries.append(#"{"ip-address": "192.168.1.2", "mac-address": "\#(mac)", "client-id": "\#(long(["ab:", "a", ":"]))::", "#
                    + #""expiry-time": 0}"#)
                default: entries.append(g.pick(["[]", "\"x\"", "{}", #"{"ip-address": 5}"#]))
                }
            }
            let whole = "[" + entries.joined(separator: ",\n") + "]"
            // An entry nested past the file's depth makes the whole file unreadable, by design.
            let deep = whole.contains(String(repeating: "[", count: 50))
            let text = g.chance(3) ? g.damaged(whole) : whole
            let leases = LeaseFile.parse(Array(text.utf8))
            #expect(leases.allSatisfy { $0.address.guestRefusal == nil && $0.expiry >= 0 && ($0.clientID.map { ClientID($0)?.description == $0 }
                ?? true) },
                    "seed \(g.seed) round \(round)")
            if text == whole && !deep { #expect(leases.count == good, "seed \(g.seed) round \(round)") }
        }
    }
}
