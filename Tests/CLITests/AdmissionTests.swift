import Foundation
import Testing

/// Each obstacle blocks a forwarded connection until admission puts one mark-scoped rule in
/// front of it; re-applying keeps exactly one; flush removes it.
@Suite(.privileged, .serialized) struct RootAdmissionTests {
    func config(admission: String, variant: Variant = .nftables) -> String {
        """
        [settings]
        admission = "\(admission)"
        \(variant.settingsLine)

        [[guest]]
        name = "g1"
        address = "192.168.122.10"
        address6 = "fd00:122::10"
        forwards = ["8080:80"]
        """
    }

    func ours(_ listing: String) -> [Substring] {
        listing.split(separator: "\n").filter { $0.contains("libvirt-portfwd") }
    }

    @Test(arguments: Obstacle.allCases, Variant.allCases)
    func admissionGetsPastTheObstacle(obstacle: Obstacle, variant: Variant) throws {
        let lab = try Lab()
        defer { lab.close() }
        lab.toolArguments = variant.arguments
        try lab.serve(lab.guest1, port: 80, reply: "g1-80")
        try lab.run(lab.host, obstacle.script)
        let target = obstacle.family == "ipv6" ? Lab.hostOutside6 : Lab.hostOutside4

        try lab.tool("apply --all", config: try lab.config(config(admission: "none", variant: variant)))
        #expect(lab.connect(lab.client1, to: target, port: 8080) == nil, "\(obstacle) should block without admission")
        if variant == .nftables { #expect(ours(try lab.run(lab.host, obstacle.listing)).isEmpty) }

        let auto = try lab.config(config(admission: "auto", variant: variant))
        try lab.tool("apply --all", config: auto)
        #expect(lab.reach(lab.client1, to: target, port: 8080) == "g1-80", "\(obstacle) should pass with admission")

        // libvirt restarting its network does not push our rule down: it stays above libvirt's
        // reject, and forwards keep working with no re-apply.
        try lab.run(lab.host, obstacle.libvirtRestart)
        #expect(lab.reach(lab.client1, to: target, port: 8080) == "g1-80", "\(obstacle) after libvirt re-created its rules")

        // Something else inserting above us stays above: re-applying leaves exactly one rule of
        // ours, still above what rejects, and never moves it over the newcomer.
        try lab.tool("apply --all", config: auto)
        if obstacle != .libvirtNftables {
            let tool = obstacle.listing.split(separator: " ")[0]
            try lab.run(lab.host, "\(tool) -I FORWARD 1 -s \(obstacle.family == "ipv6" ? "2001:db8:99::9" : "192.0.2.99") -j DROP -m comment "
                + "--comment intruder")
        } else {
            try lab.run(lab.host, "nft insert rule ip libvirt_network forward counter comment intruder")
        }
        try lab.tool("apply --all", config: auto)
        let listing = try lab.run(lab.host, obstacle.listing)
        let rules = listing.split(separator: "\n").filter { $0.hasPrefix("-A FORWARD") || ($0.hasPrefix("\t\t") && !$0.hasPrefix("\t\ttype ")) }
        // Either the mark-scoped accept itself, or the iptables backend's jump to its chain, which holds it.
        let admits = rules.indices.filter { rules[$0].contains("libvirt-portfwd") && (rules[$0].contains("accept") || rules[$0].hasSuffix("-j ACCEPT")
            || rules[$0].hasSuffix("-j LIBVIRT_PORTFWD_FWD")) }
        #expect(admits.count == 1, "\(listing)")
        #expect(rules.first?.contains("intruder") == true, "the rule put above ours stays above:\n\(listing)")
        if let reject = rules.firstIndex(where: { $0.hasSuffix("-j LIBVIRT_FWI") || $0.contains("jump guest_input") }), let ours = admits.first {
            #expect(ours < reject, "ours above libvirt's reject:\n\(listing)")
        }
        #expect(lab.reach(lab.client1, to: target, port: 8080) == "g1-80")

        try lab.tool("flush", config: auto)
        #expect(ours(try lab.run(lab.host, obstacle.listing)).isEmpty)
        #expect(lab.connect(lab.client1, to: target, port: 8080) == nil)
    }

    @Test func admissionNoneRemovesAnEarlierRule() throws {
        let lab = try Lab()
        defer { lab.close() }
        try lab.run(lab.host, Obstacle.libvirtIptablesNft.script)
        try lab.tool("apply --all", config: try lab.config(config(admission: "auto")))
        #expect(ours(try lab.run(lab.host, "iptables-nft -S FORWARD")).count == 2, "the admin's chain, then our accept")
        try lab.tool("apply --all", config: try lab.config(config(admission: "none")))
        #expect(ours(try lab.run(lab.host, "iptables-nft -S FORWARD")).isEmpty)
    }

    @Test func noObstacleMeansNoRuleAnywhere() throws {
        let lab = try Lab()
        defer { lab.close() }
        try lab.serve(lab.guest1, port: 80, reply: "g1-80")
        try lab.tool("apply --all", config: try lab.config(config(admission: "auto")))
        #expect(lab.reach(lab.client1, to: Lab.hostOutside4, port: 8080) == "g1-80")
        // Nothing rejected us, so no iptables table was created just for an admission rule.
        let tables = try lab.run(lab.host, "nft list tables")
        #expect(tables.trimmingCharacters(in: .whitespacesAndNewlines) == "table inet libvirt_portfwd")
    }
}
