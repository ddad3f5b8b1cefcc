import Foundation
import Testing

/// `forward add/remove/list` against a real libvirtd: the guest's metadata is edited through
/// virsh (or, for a port outside the metadata fence, the config's drop-in is written), checked
/// first, applied at once when the guest runs; the config file itself is never written.
@Suite(.privileged, .serialized) struct RootLibvirtForwardTests {
    @Test(arguments: [LibvirtHost.debian12, .debian13Nftables])
    func liveForwardsLikeIncusNetworkForward(host: LibvirtHost) throws {
        let config = """
            # The admin's own file: comments and all must survive every command.
            [[guest]]
            name = "web2"
            address = "192.168.122.11"
            forwards = ["9090:90"]   # web2 is defined but not running

            """
        let lab = try LibvirtLab(config: config, host: host)
        defer { lab.close() }
        try lab.serveInGuest(port: 80)
        try lab.define("web1", mac: "52:54:00:00:00:10")
        try lab.define("web2", mac: "52:54:00:00:00:11")
        try lab.virsh("start web1")

        #expect(try lab.tool("forward add web1 8080:80").contains("added 8080:80 to web1 in its metadata; web1 runs: 1 forwards installed"))
        #expect(lab.reach(port: 8080) == "guest-192.168.122.10")
        let list = try lab.tool("forward list")
        #expect(list.contains("web1   8080:80/tcp  any      metadata  running"), "\(list)")
        #expect(list.contains("web2   9090:90/tcp  any      config    shut off"), "\(list)")

        // Refused before anything is written: the policy, and a conflict with the config.
        let before = try lab.virsh("metadata web1 urn:libvirt-portfwd:1 --config")
        // Without counters: background traffic (IPv6 ND, DHCP) moves them.
        let ruleset = "nft list ruleset | sed 's/packets [0-9]* bytes [0-9]*//'"
        let rules = try lab.inLab(ruleset)
        let low = lab.toolResult("forward add web1 443:80 --in metadata")
        #expect(low.status == 1 && low.stderr.contains("metadata forward 443:80/tcp uses host ports outside settings.metadata-host-ports "
            + "(1024-65535)"), "\(low.stderr)")
        let clash = lab.toolResult("forward add web1 9090:80")
        #expect(clash.status == 1 && clash.stderr.contains("conflict: tcp port 9090 on every address: guests web1 and web2 both claim it"),
            "\(clash.stderr)")
        #expect(try lab.virsh("metadata web1 urn:libvirt-portfwd:1 --config") == before)
        #expect(try lab.inLab(ruleset) == rules)

        // Root's one command for port 443: stored in the config's drop-in, said where and why.
        let dropIn = "\(lab.work)/portfwd.d/web1.toml"
        let https = try lab.tool("forward add web1 443:80")
        #expect(https.contains("added 443:80 to web1 in \(dropIn) (metadata forward 443:80/tcp uses host ports outside"), "\(https)")
        #expect(https.contains("web1 runs: 2 forwards installed"), "\(https)")
        #expect(lab.reach(port: 443) == "guest-192.168.122.10")
        #expect(try lab.tool("forward list web1").contains("443:80/tcp   any      config"))
        #expect(try lab.tool("check").hasPrefix("success: "))
        #expect(try lab.tool("forward remove web1 443:80").contains("removed 443:80 from web1 in \(dropIn)"))
        #expect(lab.connect(port: 443) == nil)
        #expect(!FileManager.default.fileExists(atPath: dropIn))

        // A guest that does not run: the forward applies when it starts.
        #expect(try lab.tool("forward add web2 7070:70 --source 198.51.100.0/24").contains("it applies when the guest starts"))
        #expect(try lab.tool("forward list web2").contains("7070:70/tcp  198.51.100.0/24  metadata  shut off"))

        #expect(try lab.tool("forward remove web1 8080:80").contains("removed 8080:80 from web1"))
        #expect(lab.connect(port: 8080) == nil)
        let configFromFile = lab.toolResult("forward remove web2 9090:90")
        #expect(configFromFile.status == 1 && configFromFile.stderr.contains("is declared in"), "\(configFromFile.stderr)")
        #expect(try String(contentsOfFile: lab.configPath, encoding: .utf8) == config, "the config file is never written")
        #expect(try lab.tool("status web1").split(separator: "\n").count == 1, "status GUEST shows only that guest")
        lab.record("forward add, remove, list")
    }
}
