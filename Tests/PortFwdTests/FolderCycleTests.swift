import Foundation
import Testing

/// Folders inside a target depend on each other in one direction only (issue 28): a cycle
/// between two folders means neither can be read, or moved, without the other. A folder uses
/// another when its code (comments aside) names a type declared at the top level there.
@Suite struct FolderCycleTests {
    /// Files by folder (relative to the target) for one directory tree.
    static func folders(of target: String) throws -> [String: [String]] {
        var result: [String: [String]] = [:]
        for sub in try FileManager.default.subpathsOfDirectory(atPath: target) where sub.hasSuffix(".swift") {
            let folder = (sub as NSString).deletingLastPathComponent
            result[folder.isEmpty ? "." : folder, default: []].append("\(target)/\(sub)")
        }
        return result
    }

    /// The names a Swift file declares at its top level: `public final class X`, `enum Y`, ...
    static func declared(in text: String) -> Set<String> {
        let kinds: Set<Substring> = ["struct", "enum", "class", "protocol", "typealias", "actor"]
        let modifiers: Set<Substring> = ["public", "internal", "private", "fileprivate", "final", "indirect", "package"]
        var names: Set<String> = []
        for line in text.split(separator: "\n") where !(line.first?.isWhitespace ?? true) {
            var words = line.split(whereSeparator: { !($0.isLetter || $0.isNumber || $0 == "_") })[...]
            while let first = words.first, modifiers.contains(first) { words = words.dropFirst() }
            guard let kind = words.first, kinds.contains(kind), let name = words.dropFirst().first,
                  name.first?.isUppercase == true else { continue }
            names.insert(String(name))
        }
        return names
    }

    /// Capitalised words of the code, with `//` comments cut off.
    static func used(in text: String) -> Set<String> {
        var words: Set<String> = []
        for line in text.split(separator: "\n") {
            let code = line.range(of: "//").map { line[..<$0.lowerBound] } ?? line[...]
            for word in code.split(whereSeparator: { !($0.isLetter || $0.isNumber || $0 == "_") }) where word.first?.isUppercase == true {
                words.insert(String(word))
            }
        }
        return words
    }

    /// Folder -> the folders it uses.
    static func graph(_ folders: [String: [String]]) throws -> [String: Set<String>] {
        var texts: [String: String] = [:]
        for file in folders.values.joined() { texts[file] = try String(contentsOfFile: file, encoding: .utf8) }
        var owner: [String: Set<String>] = [:]
        for (folder, files) in folders {
            for file in files { for name in declared(in: texts[file]!) { owner[name, default: []].insert(folder) } }
        }
        var edges: [String: Set<String>] = [:]
        for (folder, files) in folders {
            for file in files {
                for word in used(in: texts[file]!) { for other in owner[word] ?? [] where other != folder { edges[folder, default: []]
                    .insert(other) } }
            }
        }
        return edges
    }

    /// One cycle, as the folders along it, or nil.
    static func cycle(in edges: [String: Set<String>]) -> [String]? {
        var state: [String: Bool] = [:]   // false: on the current path; true: done
        var path: [String] = []
        func visit(_ node: String) -> [String]? {
            if state[node] == true { return nil }
            if state[node] == false { return Array(path[path.firstIndex(of: node)!...]) + [node] }
            state[node] = false
            path.append(node)
            for next in (edges[node] ?? []).sorted() { if let found = visit(next) { return found } }
            path.removeLast()
            state[node] = true
            return nil
        }
        for node in edges.keys.sorted() { if let found = visit(node) { return found } }
        return nil
    }

    @Test func noTargetsFoldersDependOnEachOtherInACycle() throws {
        let sources = "\(Paths.root)/Sources"
        var checked = 0
        for target in try FileManager.default.contentsOfDirectory(atPath: sources).sorted() {
            let folders = try Self.folders(of: "\(sources)/\(target)")
            guard folders.count > 1 else { continue }
            let edges = try Self.graph(folders)
            checked += edges.values.map(\.count).reduce(0, +)
            #expect(Self.cycle(in: edges) == nil, "\(target): \(Self.cycle(in: edges)?.joined(separator: " -> ") ?? "")")
        }
        // The walk found the layering it checks: rendering uses the table's model.
        let core = try Self.graph(try Self.folders(of: "\(sources)/PortFwdCore"))
        #expect(core["Render"]?.contains("Table") == true && checked > 20, "\(checked) edges")
    }

    @Test func aCycleIsFoundAndNamed() throws {
        let dir = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("cycles-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        for (path, text) in [("A/One.swift", "public struct One { let two: Two? }\n"),
                             ("B/Two.swift", "// One is only named in a comment here\nfinal class Two {}\n"),
                             ("C/Three.swift", "enum Three { static let t = Two() }\n")] {
            let url = dir.appendingPathComponent(path)
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            try text.write(to: url, atomically: true, encoding: .utf8)
        }
        var edges = try Self.graph(try Self.folders(of: dir.path))
        #expect(edges == ["A": ["B"], "C": ["B"]])
        #expect(Self.cycle(in: edges) == nil)
        edges["B"] = ["C"]
        #expect(Self.cycle(in: edges) == ["B", "C", "B"])
    }
}
