import Foundation
import Testing
@testable import PortFwd
import PortFwdCore

/// The one place typed commands become nft text, pinned: each command and query as
/// libnftables is handed it, which is the text the tool sent before the seam was typed
/// (a command now ends its line, where a lone command sent on its own had no newline).
@Suite struct NftCommandTextTests {
    let libvirt = LibvirtForwardChain.nftTable(.ipv4)
    let admission = LibvirtForwardChain.rule(.default)
    func port(_ n: UInt16) -> NftValue { .ports(PortRange(port: n)!) }

    @Test func everyCommandIsTheTextSentToday() throws {
        let web1 = NftValue.address(IPAddress("192.168.122.10")!)
        let mapping = NftElement([.proto(.tcp), port(8080)], data: [web1, port(80)])
        let counted = NftElement([.proto(.tcp), port(8080)], counter: Counts(packets: 1, bytes: 60), comment: "guest-x")
        let set = NftSet(name: "fwd4_any", key: [.proto, .service], counter: true, elements: [counted])
        let hook = NftHook(type: "filter", hook: "forward", priority: 0)
        let cases: [(NftCommand, String)] = [
            (.addTable(.ours, nil), "table inet libvirt_portfwd\n"),
            (.addTable(.ours, NftTable(chains: [NftChain(name: "c", rules: [NftRule("accept")])])),
             "table inet libvirt_portfwd {\n\tchain c {\n\t\taccept\n\t}\n}\n"),
            (.addChain(.ours, NftChain(name: "f", hook: hook, rules: [NftRule("counter", comment: "x")])),
             "add chain inet libvirt_portfwd f { type filter hook forward priority 0; policy accept; }\n"
                + "add rule inet libvirt_portfwd f counter comment \"x\"\n"),
            (.addChain(.ours, NftChain(name: "r", rules: [])), "add chain inet libvirt_portfwd r\n"),
            (.addSet(.ours, set), "add set inet libvirt_portfwd fwd4_any { type inet_proto . inet_service; counter; }\n"
                + "add element inet libvirt_portfwd fwd4_any { tcp . 8080 counter packets 1 bytes 60 comment \"guest-x\" }\n"),
            (.addSet(.ours, NftSet(name: "m", key: [.proto, .service], data: [.address(.ipv4), .service], interval: true)),
             "add map inet libvirt_portfwd m { type inet_proto . inet_service : ipv4_addr . inet_service; flags interval; }\n"),
            (.addElements(.ours, set: "dnat4_any", [mapping, NftElement([.proto(.udp), port(53)], data: [web1, port(53)])]),
             "add element inet libvirt_portfwd dnat4_any { tcp . 8080 : 192.168.122.10 . 80, udp . 53 : 192.168.122.10 . 53 }\n"),
            // LibvirtForwardChain's admission rule, and its undo's re-insertions.
            (.insertRule(libvirt, chain: "forward", admission, before: 7),
             "insert rule ip libvirt_network forward position 7 ct mark & 0x10000000 == 0x10000000 counter accept comment \"libvirt-portfwd mark "
                 + "0x10000000\"\n"),
            (.insertRule(libvirt, chain: "forward", admission),
             "insert rule ip libvirt_network forward ct mark & 0x10000000 == 0x10000000 counter accept comment \"libvirt-portfwd mark "
                 + "0x10000000\"\n"),
            (.addRule(libvirt, chain: "guest_input", admission),
             "add rule ip libvirt_network guest_input ct mark & 0x10000000 == 0x10000000 counter accept comment \"libvirt-portfwd mark "
                 + "0x10000000\"\n"),
            (.addRule(libvirt, chain: "forward", NftRule("accept"), after: 3), "add rule ip libvirt_network forward position 3 accept\n"),
            (.delete(.table(.ours)), "delete table inet libvirt_portfwd\n"),
            (.delete(.table(.trace)), "delete table inet libvirt_portfwd_trace\n"),
            (.destroy(.table(.ours)), "destroy table inet libvirt_portfwd\n"),
            (.delete(.chain(.ours, "forward")), "delete chain inet libvirt_portfwd forward\n"),
            (.destroy(.set(.ours, "fwd4_any")), "destroy set inet libvirt_portfwd fwd4_any\n"),
            // A map's elements by their keys alone.
            (.delete(.elements(.ours, set: "dnat4_any", [mapping])), "delete element inet libvirt_portfwd dnat4_any { tcp . 8080 }\n"),
            (.delete(.rule(libvirt, chain: "guest_input", handle: 12)), "delete rule ip libvirt_network guest_input handle 12\n"),
            (.comment("# why\n"), "# why\n"),
        ]
        for (command, text) in cases { #expect(command.text == text) }
        // Admission rides ahead of the swap, in the same text.
        let swap = NftTransaction([.delete(.rule(libvirt, chain: "forward", handle: 5)), .insertRule(libvirt, chain: "forward", admission,
            before: 7)])
            + NftRenderer().transaction(NftTable())
        #expect(swap.script == "delete rule ip libvirt_network forward handle 5\n" + cases[7].1 + NftRenderer().render(NftTable()))
    }

    @Test func everyQueryIsTheTextSentToday() {
        let cases: [(NftQuery, String)] = [
            (.table(.ours), "list table inet libvirt_portfwd"),
            (.table(NftTableID("inet", "libvirt_portfwd_probe")), "list table inet libvirt_portfwd_probe"),
            (.chain(libvirt, "forward"), "list chain ip libvirt_network forward"),
            (.chain(NftTableID("ip6", "filter"), "FORWARD"), "list chain ip6 filter FORWARD"),
            (.chain(NftTableID("inet", "firewalld"), "filter_FORWARD_dnat"), "list chain inet firewalld filter_FORWARD_dnat"),
            (.set(.ours, "fwd4_any"), "list set inet libvirt_portfwd fwd4_any"),
            (.chains, "list chains"),
            (.rules, "list ruleset"),
        ]
        for (query, text) in cases { #expect(query.text == text) }
    }

    /// The swap `export` prints is the transaction's text, which fills the plan's fingerprint in
    /// where the typed table holds its placeholder; the fake, given the values, holds the same.
    @Test func theSwapIsOneTransactionWhoseTextIsTheRendering() throws {
        let plan = try Fixtures.plan(Fixtures.web1)
        for renderer in [NftRenderer(), NftRenderer(replace: .destroy)] {
            let swap = renderer.transaction(plan)
            #expect(swap.script == renderer.render(plan))
            #expect(swap.script.contains(" plan \(renderer.fingerprint(plan))\"") && !swap.script.contains(NftTable.fingerprintPlaceholder))
            guard case .addTable(.ours, let table?) = swap.commands.last else { Issue.record("the swap ends with the table"); continue }
            #expect(NftRenderer.filled(table).fingerprint == renderer.fingerprint(plan))
            let fake = FakeNftables(destroy: renderer.replace == .destroy)
            try fake.commit(swap)
            #expect(fake.table?.fingerprint == renderer.fingerprint(plan))
        }
    }
}
