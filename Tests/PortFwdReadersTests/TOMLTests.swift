import Foundation
import Testing
@testable import PortFwdReaders

/// The TOML reader against Python's tomllib (a TOML 1.0 reader of the standard library), on
/// random documents and random corruptions of them: both accept or both refuse, and what is
/// accepted reads the same. And the inputs that made toml++ abort.
@Suite struct TOMLTests {
    /// A value as text both sides agree on: JSON-like, keys sorted, dates as a tag.
    static func canonical(_ value: TOML.Value) -> String {
        switch value.kind {
        case .string(let s): return "s" + s.unicodeScalars.map { String($0.value, radix: 16) }.joined(separator: ",")
        case .integer(let n): return "i\(n)"
        case .float(let d): return d.isNaN ? "fnan" : d.isInfinite ? (d > 0 ? "finf" : "f-inf") : "f\(d == 0 ? 0 : d)"
        case .boolean(let b): return b ? "true" : "false"
        case .datetime: return "date"
        case .array(let a): return "[" + a.map(canonical).joined(separator: ";") + "]"
        case .table(let t): return canonical(t)
        }
    }

    static func canonical(_ table: TOML.Table) -> String {
        "{" + table.keys.sorted().map { key in key.unicodeScalars.map { String($0.value, radix: 16) }.joined(separator: ",") + "="
            + canonical(table[key]!) }
            .joined(separator: ";") + "}"
    }

    static let python = #"""
        import sys, tomllib, json, math, datetime
        def canon(v):
            if isinstance(v, bool): return "true" if v else "false"
            if isinstance(v, str): return "s" + ",".join(format(ord(c), "x") for c in v)
            if isinstance(v, int): return "i%d" % v
            if isinstance(v, float):
                if math.isnan(v): return "fnan"
                if math.isinf(v): return "finf" if v > 0 else "f-inf"
                return "f" + repr(0.0 if v == 0 else v)
            if isinstance(v, (datetime.datetime, datetime.date, datetime.time)): return "date"
            if isinstance(v, list): return "[" + ";".join(canon(x) for x in v) + "]"
            if isinstance(v, dict): return "{" + ";".join(",".join(format(ord(c), "x") for c in k) + "=" + canon(v[k]) for k in sorted(v)) + "}"
            raise TypeError(type(v))
        for line in sys.stdin:
            doc = json.loads(line)
            try:
                print("ok " + canon(tomllib.loads(doc)))
            except Exception:
                print("err")
        """#

    /// Python's verdict on each document.
    static func tomllib(_ documents: [String]) throws -> [String] {
        let input = documents.map { doc -> String in
            let data = try! JSONSerialization.data(withJSONObject: [doc], options: [])
            let text = String(decoding: data, as: UTF8.self)
            return String(text.dropFirst().dropLast())
        }.joined(separator: "\n") + "\n"
        let out = try runPython(python, input: input)
        return out.split(separator: "\n", omittingEmptySubsequences: false).dropLast().map(String.init)
    }

    struct PythonFailed: Error { let status: Int32 }

    /// python3 running `script` on `input`, files for both ends: its output read once it exited.
    static func runPython(_ script: String, input: String) throws -> String {
        let dir = NSTemporaryDirectory() + "pf-toml-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try script.write(toFile: "\(dir)/check.py", atomically: true, encoding: .utf8)
        try input.write(toFile: "\(dir)/in", atomically: true, encoding: .utf8)
        _ = FileManager.default.createFile(atPath: "\(dir)/out", contents: nil)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        process.arguments = ["\(dir)/check.py"]
        process.standardInput = FileHandle(forReadingAtPath: "\(dir)/in")
        process.standardOutput = FileHandle(forWritingAtPath: "\(dir)/out")
        try process.run()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { throw PythonFailed(status: process.terminationStatus) }
        return try String(contentsOfFile: "\(dir)/out", encoding: .utf8)
    }

    struct Generator {
        var rng: SplitMix
        mutating func pick<T>(_ items: [T]) -> T { items[Int(rng.next() % UInt64(items.count))] }
        mutating func chance(_ n: UInt64) -> Bool { rng.next() % n == 0 }

        mutating func key() -> String {
            let bare = pick(["a", "b", "name", "forwards", "x-y", "_1", "2", "guest", "settings"])
            switch rng.next() % 6 {
            case 0: return "\"\(bare) q\""
            case 1: return "'\(bare)'"
            case 2: return "\(bare).\(pick(["c", "d"]))"
            default: return bare
            }
        }

        mutating func scalar() -> String {
            pick([
                "\"plain\"", "\"esc \\t \\\" \\\\ \\u00e9 \\U0001F600\"", "'lit \\ eral'", "\"\"\"\nmulti\\\n   line\"\"\"", "'''\nraw\nlines'''",
                "\"\"\"a\"\"\"\"\"", "42", "-17", "+0", "1_000", "0xDEAD_beef", "0o755", "0b1010", "3.14", "-0.0", "6.02e23", "1e-7", "inf", "-inf",
                "nan", "true", "false", "1979-05-27T07:32:00Z", "1979-05-27 07:32:00.5-07:00", "1979-05-27", "07:32:00", "1979-05-27T00:32:00.999999",
                "\"8080:80\"", "\"192.168.122.10\"",
            ])
        }

        mutating func value(depth: Int = 0) -> String {
            guard depth < 3, chance(3) else { return scalar() }
            if chance(2) {
                let items = (0..<Int(rng.next() % 4)).map { _ in value(depth: depth + 1) }
                return "[" + (chance(2) ? "\n  " : " ") + items.joined(separator: chance(2) ? ",\n  " : ", ")
                    + (chance(3) && !items.isEmpty ? "," : "") + " ]"
            }
            let items = (0..<Int(rng.next() % 3)).map { _ in "\(key()) = \(value(depth: depth + 1))" }
            return "{ " + items.joined(separator: ", ") + " }"
        }

        mutating func document() -> String {
            var lines: [String] = []
            for _ in 0..<Int(rng.next() % 8) {
                switch rng.next() % 6 {
                case 0: lines.append("[\(key())]")
                case 1: lines.append("[[\(key())]]")
                case 2: lines.append("# a comment \(pick(["", "é", "\t"]))")
                case 3: lines.append("")
                default: lines.append("\(key()) = \(value())\(chance(4) ? " # trailing" : "")")
                }
            }
            return lines.joined(separator: pick(["\n", "\r\n"])) + (chance(2) ? "\n" : "")
        }

        /// The same document with a few bytes deleted, doubled or replaced.
        mutating func corrupt(_ doc: String) -> String {
            var bytes = Array(doc.utf8)
            for _ in 0..<(1 + Int(rng.next() % 3)) where !bytes.isEmpty {
                let at = Int(rng.next() % UInt64(bytes.count))
                switch rng.next() % 3 {
                case 0: bytes.remove(at: at)
                case 1: bytes.insert(bytes[at], at: at)
                default: bytes[at] = pick(Array("[]{}\"'=.,#\\\n \t0aZ_-+:".utf8))
                }
            }
            return String(decoding: bytes, as: UTF8.self)
        }
    }

    @Test func agreesWithTomllibOnRandomDocumentsAndCorruptions() throws {
        let seed = UInt64.random(in: 0...UInt64.max)
        var g = Generator(rng: SplitMix(seed: seed))
        var docs: [String] = []
        for _ in 0..<1500 {
            let doc = g.document()
            docs.append(doc)
            docs.append(g.corrupt(doc))
        }
        docs += ["[[[1]]]", "[{ettings]\na = 1", "[[=", "a = [}", "a = {b = 1,}", "[a]\nb.c = 1\n[a.b]", "a.b = 1\na = 2",
                 "[a]\n[a]", "a = \"\\uD800\"", "a = 0x", "a = 01", "a = 1__0", "a = 1979-02-30", "\"\"\" = 1", "a = [1,,2]"]
        let verdicts = try Self.tomllib(docs)
        #expect(verdicts.count == docs.count)
        var disagreements: [String] = []
        for (doc, verdict) in zip(docs, verdicts) {
            let ours: String
            do { ours = "ok " + Self.canonical(try TOML.parse(doc)) } catch { ours = "err" }
            if ours != verdict { disagreements.append("\(doc.debugDescription): ours \(ours.prefix(120)), tomllib \(verdict.prefix(120))") }
        }
        let shown = disagreements.prefix(15).joined(separator: "\n")
        #expect(disagreements.isEmpty, "seed \(seed): \(disagreements.count) of \(docs.count) differ:\n\(shown)")
    }

    /// What made toml++ 3.4 abort the process is a line and a reason here.
    @Test func inputsThatAbortedTomlPlusPlusAreErrors() {
        for text in ["[[[1]]]", "[[[a]]]", "[[=", "[{ettings]\n", "a = [}",
            "[settings]\nmetadata-host-ports = [\"102|-65535\"]\nforwards = [} spec = \"22\""] {
            #expect(throws: TOML.Failure.self, "\(text.debugDescription)") { try TOML.parse(text) }
        }
    }

    @Test func valuesKeepTheirLines() throws {
        let t = try TOML.parse("# c\n[[guest]]\nname = \"a\"\n\nforwards = [\n  \"80\",\n  \"81\",\n]\n")
        let guest = try #require(t["guest"]?.array?.first?.table)
        #expect(guest["name"]?.line == 3)
        #expect(guest["forwards"]?.array?.map(\.line) == [6, 7])
    }
}
