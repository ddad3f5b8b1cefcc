import Foundation
import Testing
@testable import PortFwdReaders

/// nft's JSON is read by a parser of our own: every document Foundation writes reads back as
/// the same values, and a malformed one is refused, never half-read.
@Suite struct JSONValueTests {
    struct Rng {
        var state: UInt64
        mutating func next(_ n: Int) -> Int {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return Int((state >> 33) % UInt64(n))
        }
    }

    static let strings = ["", "a", "tcp . 8080", "é", "\u{1F600}", "quote \" and \\ back", "tab\tnew\nline", "\u{0}\u{1F}", "/slash"]

    /// A random value, as Foundation's plist-like tree and as the JSONValue it must read as.
    static func random(_ rng: inout Rng, depth: Int) -> (Any, JSONValue) {
        switch rng.next(depth > 3 ? 5 : 7) {
        case 0: let s = strings[rng.next(strings.count)]; return (s, .string(s))
        case 1: let n = UInt64(rng.next(1 << 30)) * UInt64(rng.next(1 << 30) + 1); return (n, .unsigned(n))
        case 2: let n = -Int64(rng.next(1 << 30) + 1); return (n, .integer(n))
        case 3: let b = rng.next(2) == 0; return (b, .bool(b))
        case 4: return (NSNull(), .null)
        case 5:
            var a: [Any] = [], v: [JSONValue] = []
            for _ in 0..<rng.next(4) { let (x, y) = random(&rng, depth: depth + 1); a.append(x); v.append(y) }
            return (a, .array(v))
        default:
            var o: [String: Any] = [:], v: [String: JSONValue] = [:]
            for _ in 0..<rng.next(4) {
                let key = strings[rng.next(strings.count)] + "\(rng.next(9))"
                let (x, y) = random(&rng, depth: depth + 1); o[key] = x; v[key] = y
            }
            return (o, .object(v))
        }
    }

    @Test func whatFoundationWritesReadsBackTheSame() throws {
        var rng = Rng(state: 20261202)
        for _ in 0..<500 {
            let (tree, expected) = Self.random(&rng, depth: 0)
            let data = try JSONSerialization.data(withJSONObject: ["v": tree], options: [.fragmentsAllowed])
            #expect(try JSONValue.parse(Array(data)) == .object(["v": expected]), "\(String(decoding: data, as: UTF8.self))")
        }
        #expect(try JSONValue.parse(Array(" [1.5, -2e3, 18446744073709551615, -9223372036854775808] ".utf8))
                == .array([.double(1.5), .double(-2000), .unsigned(.max), .integer(.min)]))
        #expect(try JSONValue.parse(Array("\"\\ud83d\\ude00\\u00e9\"".utf8)) == .string("\u{1F600}é"))
    }

    @Test(arguments: ["", "{", "[1,]", "{\"a\" 1}", "{\"a\":1,}", "01", "1.", "1e", "-", "\"a", "\"\\x\"", "\"\\ud83d\"",
                      "tru", "1 2", "[1]]", "\"a\nb\"", String(repeating: "[", count: 600) + String(repeating: "]", count: 600)])
    func malformedDocumentsAreRefused(text: String) {
        #expect(throws: JSONValue.Failure.self) { try JSONValue.parse(Array(text.utf8)) }
    }
}
