import Foundation
import Testing

/// No line under Sources/, and no line of a Swift file under Tests/, is wider than 150 characters
/// (issue 28): a wide line is wrapped where it is written, instead of piling up until someone wraps
/// them all at once. Tests/libvirt's shell and Python helpers are not held to it.
@Suite struct SourceWidthTests {
    static let limit = 150

    /// Every file under `folder` (Sources or Tests), relative to the package root, sorted.
    static func files(under folder: String) throws -> [String] {
        let top = "\(Paths.root)/\(folder)"
        return try FileManager.default.subpathsOfDirectory(atPath: top).filter { sub in
            var directory: ObjCBool = false
            return FileManager.default.fileExists(atPath: "\(top)/\(sub)", isDirectory: &directory) && !directory.boolValue
        }.map { "\(folder)/\($0)" }.sorted()
    }

    /// `path:line: N characters` for each line of `text` wider than the limit. Characters, not
    /// bytes: a `…` is one column in an editor.
    static func wideLines(_ text: String, path: String) -> [String] {
        text.split(separator: "\n", omittingEmptySubsequences: false).enumerated().compactMap { index, line in
            line.count > limit ? "\(path):\(index + 1): \(line.count) characters" : nil
        }
    }

    /// Every line under Sources/, and every line of the Swift files under Tests/, fits the width.
    @Test func everySourceLineFitsTheWidth() throws {
        let sources = try Self.files(under: "Sources")
        let tests = try Self.files(under: "Tests").filter { $0.hasSuffix(".swift") }
        // The walk must have found both trees, or an empty list would pass.
        #expect(sources.contains("Sources/PortFwdCore/Plan/Resolver.swift"), "Sources/ not found under \(Paths.root)")
        #expect(tests.contains("Tests/PortFwdTests/SourceWidthTests.swift"), "Tests/ not found under \(Paths.root)")
        var wide: [String] = []
        for path in sources + tests {
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
