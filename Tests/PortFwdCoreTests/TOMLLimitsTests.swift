import Foundation
import Testing
import PortFwdCore
import PortFwdReaders

/// The config reader is bounded (issue 24, items 7 to 9): nesting stops at `TOML.maximumDepth`
/// levels with one line naming the line and why, whichever way the nesting is spelled; a
/// `\u0000` that is only text is valid TOML; and any document, however deep, wide or long,
/// ends in a value or in one error line.
@Suite struct TOMLLimitsTests {
    static let limit = TOML.maximumDepth

    /// Nesting spelled every way TOML allows, at the limit and one past it.
    static func nested(_ way: Int, levels n: Int) -> String {
        switch way {
        case 0: return "a = " + String(repeating: "[", count: n) + String(repeating: "]", count: n) + "\n"
        case 1: return "a = " + String(repeating: "{b = ", count: n) + "1" + String(repeating: "}", count: n) + "\n"
        case 2: return Array(repeating: "a", count: n).joined(separator: ".") + " = 1\n"
        case 3: return "[" + Array(repeating: "a", count: n).joined(separator: ".") + "]\n"
        case 4: return "[[" + Array(repeating: "a", count: n).joined(separator: ".") + "]]\n"
        default: return "x = [" + String(repeating: "{b = [", count: n / 2) + String(repeating: "]}", count: n / 2) + "]\n"
        }
    }

    @Test(arguments: 0..<6)
    func nestingPastTheLimitIsOneLineNamingIt(way: Int) throws {
        for levels in [Self.limit + 2, 40_000] {
            let text = "# deep\n" + Self.nested(way, levels: levels)
            let error = expectError(PortFwdError.self) { try Config.parse(text, file: "/etc/libvirt/portfwd.toml") }
            #expect(error?.lines.count == 1, "way \(way), \(levels) levels: \(error?.lines ?? [])")
            let line = error?.lines.first ?? ""
            #expect(line.hasPrefix("/etc/libvirt/portfwd.toml: line 2, column "), "\(line.prefix(200))")
            #expect(line.contains("nested more than \(Self.limit) levels deep"), "\(line.prefix(200))")
            #expect(isOneBoundedLine(line, maximum: 300))
        }
    }

    /// At the limit itself nothing is refused: the reader parses and the value is there.
    @Test(arguments: [0, 1, 3])
    func nestingAtTheLimitReads(way: Int) throws {
        let table = try TOML.parse(Self.nested(way, levels: way == 3 ? Self.limit : Self.limit))
        #expect(table["a"] != nil)
    }

    /// 40,000 `[[guest]]` headers, as many inline tables: both read, each guest in order (the
    /// time each takes is in bench/RESULTS.md; a test never asserts one).
    @Test func fortyThousandTablesRead() throws {
        let headers = (0..<40_000).map { "[[guest]]\nname = \"g\($0)\"\n" }.joined()
        let inline = "guest = [\n" + (0..<40_000).map { "{ name = \"g\($0)\" }" }.joined(separator: ",\n") + "\n]\n"
        for text in [headers, inline] {
            let guests = try #require(try TOML.parse(text)["guest"]?.array)
            #expect(guests.count == 40_000)
            #expect(guests.last?.table?["name"]?.string == "g39999")
        }
    }

    /// `\u0000` is text in a comment and in literal strings: valid TOML, read as written.
    @Test func aU0000ThatIsOnlyTextIsValid() throws {
        let text = """
            # a comment may say \\u0000
            [[guest]]
            name = 'web\\u0000'   # literal: six characters, no NUL
            forwards = ['''8080:80'''] # \\U00000000
            [settings]
            metadata-host-ports = ['1024-65535'] # ''\' \\u0000

            """
        let config = try Config.parse(text, file: "f.toml")
        #expect(config.guests.first?.name?.value == "web\\u0000")
        #expect(try TOML.parse("a = '''\n\\u0000\n'''\n")["a"]?.string == "\\u0000\n")
    }

    /// A NUL byte, and an escape that would put a NUL into a key or a value, stay refused, with
    /// the line and column.
    @Test(arguments: [
        ("[[guest]]\nname = \"a\"\n\u{0}[settings]\n", "line 3, column 1", "a NUL byte"),
        ("# comment \u{0}\n", "line 1, column 11", "a NUL byte"),
        ("[[guest]]\nname = 'a\u{0}'\n", "line 2, column 10", "a NUL byte"),
        ("[[guest]]\nname = \"a\\u0000b\"\n", "line 2, column 10", "\\u0000 escape"),
        ("[[guest]]\nforwards = [\"80\\U00000000\"]\n", "line 2, column 16", "\\u0000 escape"),
        ("\"a\\u0000\" = 1\n", "line 1, column 3", "\\u0000 escape"),
        ("a = \"\"\"\n\\u0000\"\"\"\n", "line 2, column 1", "\\u0000 escape"),
    ])
    func aNULInAValueIsRefusedWhereItStands(text: String, place: String, what: String) {
        let error = expectError(PortFwdError.self) { try Config.parse(text, file: "f.toml") }
        #expect(error?.lines.count == 1)
        #expect(error?.message.hasPrefix("f.toml: \(place): ") == true, "\(error?.message ?? "")")
        #expect(error?.message.contains(what) == true, "\(error?.message ?? "")")
    }

    /// A megabyte key makes a short message, wherever the reader or the config stops on it.
    @Test func longKeysMakeShortMessages() {
        let key = String(repeating: "k", count: 1_000_000)
        for text in ["\(key) = 1\n", "[[guest]]\n\(key) = 1\n", "[settings]\n\(key) = 1\n", "\(key)\n", "[\(key)]\n[\(key)]\n",
                     "[[guest]]\nname = \"a\"\nforwards = [{ spec = \"80\", \(key) = 1 }]\n", "a.\(key) = 1\na.\(key) = 2\n"] {
            let error = expectError(PortFwdError.self) { try Config.parse(text, file: "f.toml") }
            #expect(error != nil)
            for line in error?.lines ?? [] { #expect(isOneBoundedLine(line, maximum: 600), "\(line.prefix(100))… (\(line.utf8.count) bytes)") }
        }
    }

    /// Numbers and dates past 128 characters are refused, by the length, not by parsing them.
    @Test func overlongNumbersAreRefusedByLength() throws {
        for word in [String(repeating: "1", count: 200), "1." + String(repeating: "0", count: 1_000_000) + "1", "1e"
            + String(repeating: "9", count: 500)] {
            let error = expectError(TOML.Failure.self) { try TOML.parse("a = \(word)\n") }
            #expect(error?.reason.contains("longer than 128 characters") == true)
        }
        #expect(try TOML.parse("a = 9_223_372_036_854_775_807\nb = 0x10\n")["a"]?.int == Int.max)
    }

    /// The property: a random document, deep, wide or long, whole or damaged, gives a value or
    /// one bounded line naming its line and column; through the config, every line names the
    /// file and where. None crashes or recurses without bound.
    @Test func anyShapeEndsInAValueOrOneLine() throws {
        var g = ReaderShapes()
        print("TOMLLimitsTests seed \(g.seed) (READERS_SEED=\(g.seed) replays it)")
        for round in 0..<100 {
            let document = g.damaged(Self.document(&g))
            let lines = document.utf8.reduce(1) { $0 + ($1 == 0x0A ? 1 : 0) }
            do {
                _ = try TOML.parse(document)
            } catch {
                #expect((1...lines).contains(error.line) && error.column >= 1, "seed \(g.seed) round \(round): line \(error.line) of \(lines)")
                #expect(isOneBoundedLine(error.reason, maximum: 300), "seed \(g.seed) round \(round): \(error.reason.prefix(200))")
            }
            do {
                _ = try Config.parse(document, file: "f.toml")
            } catch {
                for line in error.lines {
                    #expect(line.hasPrefix("f.toml: ") && isOneBoundedLine(line, maximum: 800), "seed \(g.seed) round \(round): \(line.prefix(200))")
                }
            }
        }
    }

    static func document(_ g: inout ReaderShapes) -> String {
        switch g.below(8) {
        case 0: return nested(g.below(6), levels: g.count(limit: limit))
        case 1:
            // Wide: many headers, many keys, a long array.
            let n = g.count(limit: 2_000)
            switch g.below(3) {
            case 0: return (0..<n).map { "[[guest]]\nname = \"g\($0)\"\nforwards = [\"\(1 + $0 % 60_000):80\"]\n" }.joined()
            case 1: return (0..<n).map { "k\($0) = \($0)\n" }.joined()
            default: return "a = [" + (0..<n).map { "\($0)" }.joined(separator: ",") + "]\n"
            }
        case 2: return "\(g.long(["k", "é", "-"])) = 1\n"
        case 3: return "a = \"\(g.long(["x", "\\u00e9", "\\\"", "€", "\\t"]))\"\n"
        case 4: return "a = '\(g.long(["x", "\"", "\\"]))'\na = \"\"\"\n\(g.long(["line\n", "\\\n  ", "\"\""]))\"\"\"\n"
        case 5: return "a = \(g.long(["1", "0", "_1"]))\nb = 1.\(g.long(["0"]))e\(g.long(["9"]))\n"
        case 6: return "# \(g.long(["comment ", "\\u0000", "é"]))\n[[guest]]\nname = \"a\"\n"
        default:
            // Mixed: deep inside wide.
            let inner = nested(g.below(6), levels: g.count(limit: limit)).replacing("a = ", with: "")
            return (0..<(1 + g.below(50))).map { "[[guest]]\nk\($0) = \(inner)" }.joined()
        }
    }
}
