import Foundation
import Testing
@testable import PortFwdReaders

/// The JSON reader (nft's listings, libvirt's lease files) is bounded: nesting stops at its
/// caller's depth, numbers at 100 characters, documents at `JSONValue.maximumSize`; anything
/// else reads in one linear pass, and every refusal names the byte where it stopped.
@Suite struct JSONLimitsTests {
    @Test func nestingPastTheLimitIsRefusedNotRecursed() throws {
        for n in [JSONValue.maximumDepth + 1, 40_000, 1_000_000] {
            for (open, close) in [("[", "]"), ("{\"a\":", "}")] {
                let text = String(repeating: open, count: n) + "1" + String(repeating: close, count: n)
                let error = expectError(JSONValue.Failure.self) { try JSONValue.parse(Array(text.utf8)) }
                #expect(error?.reason.hasPrefix("nested more than \(JSONValue.maximumDepth) levels deep at byte ") == true, "\(error?.reason ?? "")")
            }
        }
        let atLimit = String(repeating: "[", count: JSONValue.maximumDepth - 1) + String(repeating: "]", count: JSONValue.maximumDepth - 1)
        #expect(throws: Never.self) { try JSONValue.parse(Array(atLimit.utf8)) }
        #expect(throws: JSONValue.Failure.self) { try JSONValue.parse(Array("[[[1]]]".utf8), depth: 3) }
        #expect(try JSONValue.parse(Array("[[1]]".utf8), depth: 3) == .array([.array([.unsigned(1)])]))
    }

    @Test func overlongNumbersAndDocumentsAreRefused() throws {
        let long = String(repeating: "9", count: 101)
        #expect(expectError(JSONValue.Failure.self) { try JSONValue.parse(Array(long.utf8)) }?.reason == "a number longer than 100 characters at "
            + "byte 101")
        #expect(try JSONValue.parse(Array(("0." + String(repeating: "5", count: 98)).utf8)) == .double(0.5555555555555556))
        let huge = [UInt8](repeating: 0x20, count: JSONValue.maximumSize + 1)
        #expect(expectError(JSONValue.Failure.self) { try JSONValue.parse(huge) }?.reason == "the document is \(huge.count) bytes, more than "
            + "\(JSONValue.maximumSize)")
    }

    /// Wide and long: a million array items, a ten-megabyte string, a hundred thousand keys.
    @Test func wideAndLongDocumentsRead() throws {
        let wide = "[" + Array(repeating: "1", count: 1_000_000).joined(separator: ",") + "]"
        #expect(try JSONValue.parse(Array(wide.utf8)).array?.count == 1_000_000)
        let long = "\"" + String(repeating: "é\\n", count: 3_000_000) + "\""
        #expect(try JSONValue.parse(Array(long.utf8)).string?.utf8.count == 9_000_000)
        let keys = "{" + (0..<100_000).map { "\"k\($0)\":\($0)" }.joined(separator: ",") + "}"
        #expect(try JSONValue.parse(Array(keys.utf8))["k99999"] == .unsigned(99_999))
    }

    /// The property: any document, deep, wide or long, whole or damaged, reads or is refused
    /// with one line naming a byte inside it.
    @Test func anyShapeEndsInAValueOrOneLine() {
        var g = ReaderShapes()
        print("JSONLimitsTests seed \(g.seed) (READERS_SEED=\(g.seed) replays it)")
        for round in 0..<150 {
            let text = g.damaged(Self.document(&g))
            let bytes = Array(text.utf8)
            do {
                _ = try JSONValue.parse(bytes, depth: g.pick([3, 8, JSONValue.maximumDepth]))
            } catch {
                let at = error.reason.split(separator: " ").last.flatMap { Int($0) }
                #expect(isOneBoundedLine(error.reason, maximum: 200), "seed \(g.seed) round \(round)")
                #expect(at.map { (0...bytes.count).contains($0) } ?? error.reason.hasPrefix("the document is"),
                    "seed \(g.seed) round \(round): \(error.reason)")
            }
        }
    }

    static func document(_ g: inout ReaderShapes) -> String {
        switch g.below(5) {
        case 0:
            let n = g.count(limit: JSONValue.maximumDepth)
            let (open, close) = g.pick([("[", "]"), ("{\"k\":", "}"), ("[{\"a\":[", "]}]")])
            return String(repeating: open, count: n) + g.pick(["1", "\"s\"", "null", "[]"]) + String(repeating: close, count: n)
        case 1: return "[" + Array(repeating: g.pick(["1", "{}", "\"x\"", "-1.5e3", "true"]), count: g.count(limit: 10_000)).joined(separator: ",")
            + "]"
        case 2: return "\"" + g.long(["x", "\\u00e9", "\\ud83d\\ude00", "\\\"", "€", "\\/"]) + "\""
        case 3: return g.long(["9", "1", "0"]) + g.pick(["", ".5", "e99999", "e-9"])
        default: return "{\"\(g.long(["k", "\\n"]))\":1," + (0..<g.count(limit: 1_000)).map { "\"k\($0)\":\($0)" }.joined(separator: ",") + "}"
        }
    }
}
