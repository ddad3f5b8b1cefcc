import Testing
import PortFwdCore
@testable import PortFwdSystem

/// iptables-restore input is built from typed operations; its text is made only where it goes
/// to the process, grouped by table (each table one atomic COMMIT) in the order tables came.
@Suite struct IptablesInputTests {
    let jump = IptablesRule(table: "nat", chain: "PREROUTING", spec: "-m addrtype --dst-type LOCAL -j LIBVIRT_PORTFWD_PRE")
    let accept = IptablesRule(table: "filter", chain: "LIBVIRT_PORTFWD_FWD", spec: "-m connmark --mark 0x1/0x1 -j ACCEPT")

    @Test func eachOperationIsOneRestoreLine() {
        let cases: [(IptablesOperation, String)] = [
            (.declare(table: "filter", chain: "LIBVIRT_PORTFWD_FWD"), ":LIBVIRT_PORTFWD_FWD - [0:0]"),
            (.append(accept, counts: nil), "-A LIBVIRT_PORTFWD_FWD -m connmark --mark 0x1/0x1 -j ACCEPT"),
            (.append(accept, counts: Counts(packets: 3, bytes: 180)), "[3:180] -A LIBVIRT_PORTFWD_FWD -m connmark --mark 0x1/0x1 -j ACCEPT"),
            (.insert(jump, at: 2), "-I PREROUTING 2 -m addrtype --dst-type LOCAL -j LIBVIRT_PORTFWD_PRE"),
            (.delete(jump), "-D PREROUTING -m addrtype --dst-type LOCAL -j LIBVIRT_PORTFWD_PRE"),
            (.flush(table: "nat", chain: "LIBVIRT_PORTFWD_PRE"), "-F LIBVIRT_PORTFWD_PRE"),
            (.deleteChain(table: "nat", chain: "LIBVIRT_PORTFWD_PRE"), "-X LIBVIRT_PORTFWD_PRE"),
        ]
        for (operation, line) in cases { #expect(operation.line == line) }
    }

    @Test func tablesAreGroupedInTheOrderTheyCame() {
        var input = IptablesInput()
        #expect(input.isEmpty && input.text.isEmpty && !input.counted)
        input.add(.delete(jump))
        input.add(.declare(table: "filter", chain: "LIBVIRT_PORTFWD_FWD"))
        input.add(.insert(jump, at: 1))
        #expect(!input.counted)
        input.add(.append(accept, counts: Counts(packets: 1, bytes: 60)))
        #expect(input.tables == ["nat", "filter"] && input.counted)
        #expect(input.text == """
            *nat
            -D PREROUTING -m addrtype --dst-type LOCAL -j LIBVIRT_PORTFWD_PRE
            -I PREROUTING 1 -m addrtype --dst-type LOCAL -j LIBVIRT_PORTFWD_PRE
            COMMIT
            *filter
            :LIBVIRT_PORTFWD_FWD - [0:0]
            [1:60] -A LIBVIRT_PORTFWD_FWD -m connmark --mark 0x1/0x1 -j ACCEPT
            COMMIT

            """)
        #expect(input.only("nat").operations == [.delete(jump), .insert(jump, at: 1)])
        #expect(!input.only("nat").counted && input.only("filter").counted)
    }
}
