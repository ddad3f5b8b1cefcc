import Testing
@testable import PortFwdSystem

/// nft's errors are classed by their first line only: what follows echoes the command.
@Suite struct LibNftablesTests {
    @Test func errorsAreClassedByTheirFirstLine() {
        let missing = "Error: No such file or directory\nlist table inet libvirt_portfwd_probe\n^^^^^^^^^^^^^^^"
        #expect(LibNftables.classify(missing).code == .notFound)
        #expect(LibNftables.classify("Error: Could not process rule: Operation not permitted\nadd table inet x").code == .permission)
        #expect(LibNftables.classify("Error: Could not process rule: File exists\nadd element inet x s { 1 }").code == .exists)
        // A command whose own words spell an errno is still refused for what nft said first.
        let echoed = "Error: syntax error, unexpected string\nadd set inet x File exists { type ipv4_addr; }\n    ^^^^"
        #expect(LibNftables.classify(echoed).code == .refused)
        #expect(LibNftables.classify(echoed).message == echoed)
    }
}
