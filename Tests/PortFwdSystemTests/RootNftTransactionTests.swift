import Foundation
import Testing
import PortFwdCore
import PortFwdSystem

/// Each kind of command the seam carries, committed to a real kernel (in a throwaway network
/// namespace) through libnftables, and read back from its listing.
@Suite(.privileged, .serialized) struct RootNftTransactionTests {
    func port(_ n: UInt16) -> NftValue { .ports(PortRange(port: n)!) }

    @Test func everyMutatingCommandReachesTheKernel() throws {
        let t = NftTableID("inet", "txn")
        let hook = NftHook(type: "filter", hook: "forward", priority: 0)
        let a = NftElement([.proto(.tcp), port(80)]), b = NftElement([.proto(.udp), port(53)])
        let web1 = NftValue.address(IPAddress("192.168.122.10")!)
        @Sendable func counting(_ comment: String) -> NftRule { NftRule("counter", comment: comment) }
        try IsolatedNetwork.run {
            let nft = LibNftables()
            func listed() throws -> NftTable { try NftJSON.table(try nft.list(.table(t))) }
            func comments(_ chain: String) throws -> [String?] { try listed().chain(chain)?.rules.map(\.comment) ?? [] }

            // Declared, then declared and filled, in one transaction; a dry run commits nothing.
            let fill = NftTable(sets: [NftSet(name: "s", key: [.proto, .service], elements: [a])],
                chains: [NftChain(name: "c", rules: [counting("one")])])
            try nft.commit(NftTransaction([.addTable(t, nil), .addTable(t, fill)]), dryRun: true)
            #expect(throws: PortFwdError.self) { _ = try nft.list(.table(t)) }
            try nft.commit(.comment("# a table of the test's\n"), .addTable(t, nil), .addTable(t, fill))

            // A base chain with its rule, a counting set and a map with elements, more elements, rules at either end.
            let map = NftSet(name: "m", key: [.proto, .service], data: [.address(.ipv4), .service],
                             elements: [NftElement([.proto(.tcp), port(8080)], data: [web1, port(80)])])
            try nft.commit(.addChain(t, NftChain(name: "f", hook: hook, rules: [NftRule("jump c", comment: "jump")])),
                           .addSet(t, NftSet(name: "n", key: [.proto, .service], counter: true, elements: [b])),
                           .addSet(t, map),
                           .addElements(t, set: "s", [b]),
                           .addRule(t, chain: "c", counting("three")),
                           .insertRule(t, chain: "c", counting("zero")))
            var table = try listed()
            #expect(Set(table.set("s")?.elements ?? []) == [a, b])
            #expect(table.set("n")?.elements == [b])
            #expect(table.set("m")?.elements == map.elements)
            #expect(table.chain("f")?.hook == hook && table.chain("f")?.rules.map(\.comment) == ["jump"])
            #expect(try comments("c") == ["zero", "one", "three"])

            // Rules placed by handle: after one, and before the same one.
            let one = try #require(try NftJSON.rules(try nft.list(.chain(t, "c"))).first { $0.comment == "one" })
            try nft.commit(.addRule(t, chain: "c", counting("two"), after: one.handle), .insertRule(t, chain: "c", counting("half"),
                before: one.handle))
            #expect(try comments("c") == ["zero", "half", "one", "two", "three"])

            // Each kind of deletion, in one transaction; a map's element by its key.
            let zero = try #require(try NftJSON.rules(try nft.list(.chain(t, "c"))).first { $0.comment == "zero" })
            try nft.commit(.delete(.rule(t, chain: "c", handle: zero.handle)), .delete(.elements(t, set: "s", [a])),
                           .delete(.elements(t, set: "m", [NftElement([.proto(.tcp), port(8080)])])),
                           .delete(.set(t, "n")), .delete(.chain(t, "f")))
            table = try listed()
            #expect(table.set("s")?.elements == [b] && table.set("m")?.elements == [] && table.set("n") == nil && table.chain("f") == nil)
            #expect(try comments("c") == ["half", "one", "two", "three"])

            // All or nothing: a command that fails takes the others with it.
            let before = try nft.list(.table(t))
            let error = expectError(PortFwdError.self) { try nft.commit(.addElements(t, set: "s", [a]), .delete(.chain(t, "absent"))) }
            #expect(error?.code == .notFound)
            #expect(try nft.list(.table(t)) == before)

            // Destroy, where nftables has it: of what is not there, no error.
            if nft.hasDestroy {
                try nft.commit(.destroy(.chain(t, "absent")), .destroy(.set(t, "absent")), .destroy(.table(t)))
                try nft.commit(.destroy(.table(t)))
            } else {
                try nft.commit(.delete(.table(t)))
            }
            #expect(expectError(PortFwdError.self) { _ = try nft.list(.table(t)) }?.code == .notFound)
        }
    }
}
