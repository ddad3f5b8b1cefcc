import Foundation
import Testing

/// No line under Sources/ is wider than 150 characters (issue 28): a wide line is wrapped where it
/// is written, instead of piling up until someone wraps them all at once.
@Suite struct SourceWidthTests {
    static let limit = 150

    /// Every file under Sources/, relative to the package root, sorted.
    static func sourceFiles() throws -> [String] {
        let sources = "\(Paths.root)/Sources"
        return try FileManager.default.subpathsOfDirectory(atPath: sources).filter { sub in
            var directory: ObjCBool = false
            return FileManager.default.fileExists(atPath: "\(sources)/\(sub)", isDirectory: &directory) && !directory.boolValue
        }.map { "Sources/\($0)" }.sorted()
    }

    /// `path:line: N characters` for each line of `text` wider than the limit. Characters, not
    /// bytes: a `…` is one column in an editor.
    static func wideLines(_ text: String, path: String) -> [String] {
        text.split(separator: "\n", omittingEmptySubsequences: false).enumerated().compactMap { index, line in
            line.count > limit ? "\(path):\(index + 1): \(line.count) characters" : nil
        }
    }

    @Test func everySourceLineFitsTheWidth() throws {
        let files = try Self.sourceFiles()
        // The walk must have found the tree, or an empty list would pass.
        #expect(files.contains("Sources/PortFwdCore/Plan/Resolver.swift"), "Sources/ not found under \(Paths.root)")
        var wide: [String] = []
        for path in files {
            let text = try String(contentsOfFile: "\(Paths.root)/\(path)", encoding: .utf8)
            wide += Self.wideLines(text, path: path)
        }
        #expect(wide.isEmpty, "wider than \(Self.limit) characters; wrap them:\n\(wide.joined(separator: "\n"))")
    }

    @Test func theCheckCountsCharactersAndNamesTheLine() {
        let fits = String(repeating: "x", count: Self.limit)
        let wider = String(repeating: "…", count: Self.limit + 1)
        #expect(Self.wideLines("\(fits)\n\(wider)\n\(fits)", path: "Sources/A.swift") == ["Sources/A.swift:2: 151 characters"])
        // 150 `…` are 450 bytes and still fit.
        #expect(Self.wideLines(String(repeating: "…", count: Self.limit), path: "Sources/A.swift").isEmpty)
    }
}
