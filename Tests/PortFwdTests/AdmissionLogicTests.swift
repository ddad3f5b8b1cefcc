import Testing
@testable import PortFwd

/// Admission's decisions against recorded firewall listings; the kernel side is in RootAdmissionTests.
@Suite struct AdmissionLogicTests {
    let ours = "-A FORWARD -m connmark --mark 0x10000000/0x10000000 -m comment --comment libvirt-portfwd -j ACCEPT"

    func setup(forward: [String], policy: String = "ACCEPT", libvirt: Bool = true) -> (Admission, RecordingCommands) {
        let nft = RecordingNftables()
        // iptables-nft keeps its filter table in nftables; libvirt has no nftables table here.
        nft.answers["list chain ip filter FORWARD"] = "table ip filter {\n\tchain FORWARD {\n\t}\n}\n"
        let commands = RecordingCommands()
        var save = ["*filter", ":INPUT ACCEPT [0:0]", ":FORWARD \(policy) [0:0]", ":OUTPUT ACCEPT [0:0]"]
        if libvirt { save += [":LIBVIRT_FWI - [0:0]", ":LIBVIRT_FWO - [0:0]", ":LIBVIRT_FWX - [0:0]"] }
        save += forward + ["COMMIT"]
        commands.outputs["iptables-nft-save"] = save.joined(separator: "\n") + "\n"
        return (Admission(nft: nft, commands: commands, mark: .default, mode: .auto, procNet: "/nonexistent"), commands)
    }

    var restores: (RecordingCommands) -> [String] {
        { $0.calls.filter { $0.argv[0].hasSuffix("-restore") }.compactMap(\.input) }
    }

    @Test func insertsOneRuleFirstInFrontOfLibvirt() throws {
        let (admission, commands) = setup(forward: ["-A FORWARD -j LIBVIRT_FWX", "-A FORWARD -j LIBVIRT_FWI"])
        #expect(try admission.ensure() == [.iptables(.nft, .ipv4)])
        #expect(restores(commands) == ["*filter\n-I FORWARD 1 -m connmark --mark 0x10000000/0x10000000 -m comment --comment libvirt-portfwd -j ACCEPT\nCOMMIT\n"])
        #expect(commands.calls.last?.argv == ["iptables-nft-restore", "-w", "--noflush"])
    }

    @Test func correctRuleMeansNoChange() throws {
        let (admission, commands) = setup(forward: [ours, "-A FORWARD -j LIBVIRT_FWX"])
        _ = try admission.ensure()
        #expect(restores(commands).isEmpty)
    }

    @Test func duplicatesAndDisplacedRulesAreReplacedInOneRestore() throws {
        let (admission, commands) = setup(forward: ["-A FORWARD -j DOCKER-USER", ours, "-A FORWARD -j LIBVIRT_FWX", ours])
        _ = try admission.ensure()
        let delete = "-D" + ours.dropFirst(2)
        #expect(restores(commands) == ["*filter\n\(delete)\n\(delete)\n-I FORWARD 1 -m connmark --mark 0x10000000/0x10000000 -m comment --comment libvirt-portfwd -j ACCEPT\nCOMMIT\n"])
    }

    @Test func dropPolicyAloneIsAnObstacle() throws {
        let (admission, commands) = setup(forward: [], policy: "DROP", libvirt: false)
        #expect(try admission.ensure() == [.iptables(.nft, .ipv4)])
        #expect(restores(commands).count == 1)
    }

    @Test func noObstacleRemovesAStaleRuleOfOurs() throws {
        let (admission, commands) = setup(forward: [ours], libvirt: false)
        #expect(try admission.ensure().isEmpty)
        #expect(restores(commands) == ["*filter\n-D" + ours.dropFirst(2) + "\nCOMMIT\n"])
    }
}
