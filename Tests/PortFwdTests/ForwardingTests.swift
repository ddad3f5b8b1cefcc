import Foundation
import Testing

/// Real packets through real rules: clients in their own namespaces connect to the host's
/// outside address and must land on socat servers in the guest namespaces.
@Suite(.privileged, .serialized) struct RootForwardingTests {
    static let config = """
        [settings]
        admission = "none"

        [[guest]]
        name = "g1"
        address = "192.168.122.10"
        address6 = "fd00:122::10"
        forwards = [
            "8080:80",
            "5353:53/udp",
            "8000-8010:9000-9010",
            { spec = "2222:22", sources = ["198.51.100.0/24"] },
            "198.51.100.1:8443:443",
        ]
        """

    func withLab(_ body: (Lab) throws -> Void) throws {
        let lab = try Lab()
        defer { lab.close() }
        try lab.serve(lab.guest1, port: 80, reply: "g1-80")
        try lab.tool("apply --all", config: try lab.config(Self.config))
        try body(lab)
    }

    @Test func tcpForwardReachesTheGuest() throws {
        try withLab { lab in
            #expect(lab.reach(lab.client1, to: Lab.hostOutside4, port: 8080) == "g1-80")
            // Nothing forwards 8081: the host itself answers with a refusal.
            #expect(lab.connect(lab.client1, to: Lab.hostOutside4, port: 8081) == nil)
        }
    }

    @Test func udpForwardReachesTheGuest() throws {
        try withLab { lab in
            try lab.serve(lab.guest1, proto: "udp", port: 53, reply: "g1-udp53")
            #expect(lab.reach(lab.client1, proto: "udp", to: Lab.hostOutside4, port: 5353) == "g1-udp53")
        }
    }

    @Test func rangeIsOffsetPreserving() throws {
        try withLab { lab in
            try lab.serve(lab.guest1, port: 9005, reply: "g1-9005")
            #expect(lab.reach(lab.client1, to: Lab.hostOutside4, port: 8005) == "g1-9005")
            // 8006 maps to 9006, where nothing listens.
            #expect(lab.connect(lab.client1, to: Lab.hostOutside4, port: 8006) == nil)
        }
    }

    @Test func sourceRestrictionAdmitsOnlyAllowedClients() throws {
        try withLab { lab in
            try lab.serve(lab.guest1, port: 22, reply: "g1-22")
            #expect(lab.reach(lab.client1, to: Lab.hostOutside4, port: 2222) == "g1-22")
            // Same port, same guest, but client2 (203.0.113.2) is outside the allowed network.
            #expect(lab.reach(lab.client2, to: Lab.hostClient2Side, port: 8080) == "g1-80", "client2 can reach unrestricted forwards")
            #expect(lab.connect(lab.client2, to: Lab.hostClient2Side, port: 2222) == nil)
        }
    }

    @Test func boundForwardOnlyAnswersOnItsAddress() throws {
        try withLab { lab in
            try lab.serve(lab.guest1, port: 443, reply: "g1-443")
            #expect(lab.reach(lab.client1, to: Lab.hostOutside4, port: 8443) == "g1-443")
            #expect(lab.reach(lab.client2, to: Lab.hostClient2Side, port: 8080) == "g1-80")
            #expect(lab.connect(lab.client2, to: Lab.hostClient2Side, port: 8443) == nil)
        }
    }

    @Test func hairpinFromAnotherGuestThroughTheOutsideAddress() throws {
        try withLab { lab in
            // guest2 shares guest1's link; without masquerade guest1 would answer it directly.
            try lab.serve(lab.guest1, port: 81, reply: "unused")
            #expect(lab.reach(lab.guest2, to: Lab.hostOutside4, port: 8080) == "g1-80")
        }
    }

    @Test func hairpinOffBreaksIt() throws {
        let lab = try Lab()
        defer { lab.close() }
        try lab.serve(lab.guest1, port: 80, reply: "g1-80")
        try lab.tool("apply --all", config: try lab.config(Self.config.replacingOccurrences(of: "admission = \"none\"", with: "admission = \"none\"\nhairpin = false")))
        #expect(lab.reach(lab.client1, to: Lab.hostOutside4, port: 8080) == "g1-80")
        #expect(lab.connect(lab.guest2, to: Lab.hostOutside4, port: 8080) == nil)
    }

    @Test func hostReachesForwardsThroughItsOwnAddress() throws {
        try withLab { lab in
            #expect(lab.reach(lab.host, to: Lab.hostOutside4, port: 8080) == "g1-80")
            #expect(lab.reach(lab.host, to: Lab.hostOutside6, port: 8080) == "g1-80")
        }
    }

    @Test func ipv6ForwardReachesTheGuest() throws {
        try withLab { lab in
            #expect(lab.reach(lab.client1, to: Lab.hostOutside6, port: 8080) == "g1-80")
        }
    }

    @Test func statusShowsCountersMovingWithTraffic() throws {
        try withLab { lab in
            let config = "\(lab.dir)/portfwd.toml"
            func row() throws -> [String: Any] {
                let data = Data(try lab.tool("status --json --all", config: config).utf8)
                let report = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
                #expect(report["installed"] as? Bool == true)
                let rows = try #require(report["forwards"] as? [[String: Any]])
                return try #require(rows.first { $0["spec"] as? String == "8080:80/tcp" && $0["family"] as? String == "ipv4" })
            }
            #expect(try row()["packets"] as? Int == 0)
            #expect(lab.reach(lab.client1, to: Lab.hostOutside4, port: 8080) == "g1-80")
            let after = try row()
            #expect((after["packets"] as? Int ?? 0) >= 4, "SYN, ACK, data and FIN both ways: \(after)")
            #expect((after["bytes"] as? Int ?? 0) > 0)
            #expect(after["target"] as? String == "192.168.122.10:80")
            let table = try lab.tool("status --all", config: config)
            #expect(table.contains("g1     8080:80/tcp"))
        }
    }

    @Test func reapplyingConvergesAndFlushRemovesEverything() throws {
        try withLab { lab in
            let first = try lab.run(lab.host, "nft list table inet libvirt_portfwd")
            try lab.tool("apply --all", config: "\(lab.dir)/portfwd.toml")
            try lab.tool("apply --all", config: "\(lab.dir)/portfwd.toml")
            let again = try lab.run(lab.host, "nft list table inet libvirt_portfwd")
            // Same rules; only counters may differ, and no traffic flowed in between.
            #expect(again == first)
            #expect(try lab.run(lab.host, "nft list tables").split(separator: "\n").filter { $0.contains("libvirt_portfwd") }.count == 1)
            try lab.tool("flush", config: "\(lab.dir)/portfwd.toml")
            #expect(try !lab.run(lab.host, "nft list tables").contains("libvirt_portfwd"))
            #expect(lab.connect(lab.client1, to: Lab.hostOutside4, port: 8080) == nil)
        }
    }
}
